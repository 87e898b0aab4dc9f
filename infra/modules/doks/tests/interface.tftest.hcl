# tofu test with a mock provider: the module honours the cluster interface, no cloud account needed.

mock_provider "digitalocean" {
  mock_data "digitalocean_kubernetes_versions" {
    defaults = {
      latest_version = "1.36.4-do.0"
    }
  }
  mock_resource "digitalocean_kubernetes_cluster" {
    defaults = {
      endpoint = "https://0123.k8s.ondigitalocean.com"
      kube_config = [{
        raw_config             = "apiVersion: v1\nkind: Config\n"
        cluster_ca_certificate = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="
        host                   = "https://0123.k8s.ondigitalocean.com"
        token                  = "mock"
        client_key             = ""
        client_certificate     = ""
        expires_at             = "2030-01-01T00:00:00Z"
      }]
    }
  }
}

variables {
  name               = "cattle-production"
  region             = "fra1"
  kubernetes_version = "1.36"
  node_size          = "s-4vcpu-8gb"
  node_count         = 3
}

run "pins_the_declared_minor_version" {
  command = apply
  assert {
    condition     = digitalocean_kubernetes_cluster.this.version == "1.36.4-do.0"
    error_message = "the cluster runs the newest patch of the declared minor version"
  }
  assert {
    condition     = digitalocean_kubernetes_cluster.this.auto_upgrade == false
    error_message = "upgrades go through git, not a maintenance window"
  }
  assert {
    condition     = output.api_endpoint == "https://0123.k8s.ondigitalocean.com"
    error_message = "the API endpoint is an output"
  }
}

run "refuses_a_patch_version" {
  command = plan
  variables {
    kubernetes_version = "1.36.4"
  }
  expect_failures = [var.kubernetes_version]
}
