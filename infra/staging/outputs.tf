output "api_endpoint" {
  value = module.cluster.api_endpoint
}

output "ca_certificate" {
  value = module.cluster.ca_certificate
}

output "kubeconfig" {
  value     = module.cluster.kubeconfig
  sensitive = true
}

output "load_balancer_address" {
  value = module.cluster.load_balancer_address
}
