# The cluster interface every implementation returns (read by cattle's opentofu provider).

output "api_endpoint" {
  description = "URL of the Kubernetes API server (through the load balancer)."
  value       = "https://${hcloud_load_balancer.this.ipv4}:6443"
}

output "ca_certificate" {
  description = "PEM of the cluster CA."
  value       = tls_self_signed_cert.server_ca.cert_pem
}

output "kubeconfig" {
  description = "A kubeconfig for the cluster (its current-context reaches it as a system:masters admin)."
  sensitive   = true
  value = yamlencode({
    apiVersion      = "v1"
    kind            = "Config"
    current-context = var.name
    clusters        = [{ name = var.name, cluster = { server = "https://${hcloud_load_balancer.this.ipv4}:6443", certificate-authority-data = base64encode(tls_self_signed_cert.server_ca.cert_pem) } }]
    users           = [{ name = "${var.name}-admin", user = { client-certificate-data = base64encode(tls_locally_signed_cert.admin.cert_pem), client-key-data = base64encode(tls_private_key.admin.private_key_pem) } }]
    contexts        = [{ name = var.name, context = { cluster = var.name, user = "${var.name}-admin" } }]
  })
}

output "load_balancer_address" {
  description = "Address of the ingress load balancer (external-dns publishes the Gateway's names on it)."
  value       = hcloud_load_balancer.this.ipv4
}
