# Managed Kubernetes (DigitalOcean Kubernetes): the provider runs the control plane.

data "digitalocean_kubernetes_versions" "pinned" {
  version_prefix = "${var.kubernetes_version}."
}

resource "digitalocean_kubernetes_cluster" "this" {
  name          = var.name
  region        = var.region
  version       = data.digitalocean_kubernetes_versions.pinned.latest_version
  auto_upgrade  = false # upgrades go through git (kubernetes.version), not a maintenance window
  surge_upgrade = true

  node_pool {
    name       = "${var.name}-default"
    size       = var.node_size
    node_count = var.node_count
  }
}
