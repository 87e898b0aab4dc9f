# The staging cluster, created by cattle's opentofu provider as bootstrap's cluster phase (docs/bootstrap.md).
# State lives in the environment's off-site backup bucket, locked by a lock file next to it: it survives losing
# everything but the bucket. cattle passes the bucket, region and endpoint at init (-backend-config) and the
# inputs from clusters/staging/environment.yaml (-var-file).

terraform {
  required_version = "= 1.12.6"
  required_providers {
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = "= 1.68.0"
    }
  }
  backend "s3" {
    key          = "staging/opentofu/terraform.tfstate"
    use_lockfile = true
  }
}

# Credentials come from the environment (provider defaults), never from git.
provider "hcloud" {}

module "cluster" {
  source             = "../modules/k3s-hcloud"
  name               = var.name
  region             = var.region
  kubernetes_version = var.kubernetes_version
  node_size          = var.node_size
  node_count         = var.node_count
}
