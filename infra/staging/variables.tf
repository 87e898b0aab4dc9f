# Inputs from clusters/staging/environment.yaml, written by cattle to a -var-file.

variable "name" {
  description = "Cluster name (cluster.name of the environment)."
  type        = string
}

variable "region" {
  description = "Location of the provider (Hetzner Cloud: fsn1)."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes minor version, e.g. 1.36 (kubernetes.version: the compatibility table allows it)."
  type        = string
  validation {
    condition     = can(regex("^1\\.[0-9]+$", var.kubernetes_version))
    error_message = "kubernetes_version is a minor version like 1.36."
  }
}

variable "node_size" {
  description = "Server type (Hetzner Cloud: cpx32; infra/server-types.yaml lists the current ones)."
  type        = string
}

variable "node_count" {
  description = "Number of worker nodes."
  type        = number
  validation {
    condition     = var.node_count >= 1
    error_message = "node_count must be at least 1."
  }
}
