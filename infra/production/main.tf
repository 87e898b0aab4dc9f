# The production cluster, created by cattle's opentofu provider as bootstrap's cluster phase (docs/bootstrap.md).
# State lives in the environment's off-site backup bucket, locked by a lock file next to it: it survives losing
# everything but the bucket. cattle passes the bucket, region and endpoint at init (-backend-config) and the
# inputs from clusters/production/environment.yaml (-var-file).

terraform {
  required_version = "= 1.12.6"
  required_providers {
    digitalocean = {
      source  = "digitalocean/digitalocean"
      version = "= 2.99.1"
    }
  }
  backend "s3" {
    key          = "production/opentofu/terraform.tfstate"
    use_lockfile = true
  }
}

# Credentials come from the environment (provider defaults), never from git.
provider "digitalocean" {}

module "cluster" {
  source             = "../modules/doks"
  name               = var.name
  region             = var.region
  kubernetes_version = var.kubernetes_version
  node_size          = var.node_size
  node_count         = var.node_count
}
