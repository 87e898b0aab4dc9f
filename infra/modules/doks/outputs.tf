# The cluster interface every implementation returns (read by cattle's opentofu provider).

output "api_endpoint" {
  description = "URL of the Kubernetes API server."
  value       = digitalocean_kubernetes_cluster.this.endpoint
}

output "ca_certificate" {
  description = "PEM of the cluster CA."
  value       = base64decode(digitalocean_kubernetes_cluster.this.kube_config[0].cluster_ca_certificate)
}

output "kubeconfig" {
  description = "A kubeconfig for the cluster (its current-context reaches it)."
  value       = digitalocean_kubernetes_cluster.this.kube_config[0].raw_config
  sensitive   = true
}

output "load_balancer_address" {
  description = "Address of the ingress load balancer, when the module creates one (here the cloud controller does, for the Gateway's Service: external-dns publishes it)."
  value       = ""
}
