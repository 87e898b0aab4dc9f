terraform {
  required_version = "= 1.12.6"
  required_providers {
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = "= 1.68.0"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "= 4.2.1"
    }
  }
}
