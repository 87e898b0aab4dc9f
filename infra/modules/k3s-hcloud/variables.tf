# The cluster interface every implementation takes (values from clusters/<env>/environment.yaml).

variable "name" {
  description = "Cluster name (cluster.name of the environment)."
  type        = string
}

variable "region" {
  description = "Hetzner Cloud location, e.g. fsn1."
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
  description = "Server type, e.g. cpx32 (infra/server-types.yaml lists what Hetzner offers)."
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
