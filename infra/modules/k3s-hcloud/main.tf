# k3s on plain Hetzner Cloud servers: one server node, agents, and a load balancer in front of the API (6443)
# and the ingress (80/443, k3s' ServiceLB on every node). The cluster's CAs and an admin client certificate are
# made here, so the kubeconfig is an output: nobody has to copy a file off a server at 3 a.m.

locals {
  labels      = { cluster = var.name, managed-by = "cattle" }
  k3s_channel = "v${var.kubernetes_version}"
  k3s_token   = sha256(tls_private_key.server_ca.private_key_pem)
  server_ca   = tls_self_signed_cert.server_ca.cert_pem
}

resource "tls_private_key" "server_ca" {
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "tls_self_signed_cert" "server_ca" {
  private_key_pem       = tls_private_key.server_ca.private_key_pem
  is_ca_certificate     = true
  validity_period_hours = 87600
  allowed_uses          = ["cert_signing", "crl_signing", "digital_signature", "key_encipherment"]
  subject {
    common_name = "k3s-server-ca@${var.name}"
  }
}

resource "tls_private_key" "client_ca" {
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "tls_self_signed_cert" "client_ca" {
  private_key_pem       = tls_private_key.client_ca.private_key_pem
  is_ca_certificate     = true
  validity_period_hours = 87600
  allowed_uses          = ["cert_signing", "crl_signing", "digital_signature", "key_encipherment"]
  subject {
    common_name = "k3s-client-ca@${var.name}"
  }
}

resource "tls_private_key" "admin" {
  algorithm   = "ECDSA"
  ecdsa_curve = "P256"
}

resource "tls_cert_request" "admin" {
  private_key_pem = tls_private_key.admin.private_key_pem
  subject {
    common_name  = "cattle-admin"
    organization = "system:masters"
  }
}

resource "tls_locally_signed_cert" "admin" {
  cert_request_pem      = tls_cert_request.admin.cert_request_pem
  ca_private_key_pem    = tls_private_key.client_ca.private_key_pem
  ca_cert_pem           = tls_self_signed_cert.client_ca.cert_pem
  validity_period_hours = 8760
  allowed_uses          = ["client_auth", "digital_signature", "key_encipherment"]
}

resource "hcloud_load_balancer" "this" {
  name               = var.name
  load_balancer_type = "lb11"
  location           = var.region
  labels             = local.labels
}

resource "hcloud_load_balancer_target" "nodes" {
  type             = "label_selector"
  load_balancer_id = hcloud_load_balancer.this.id
  label_selector   = "cluster=${var.name}"
}

resource "hcloud_load_balancer_service" "ports" {
  for_each         = toset(["443", "80", "6443"])
  load_balancer_id = hcloud_load_balancer.this.id
  protocol         = "tcp"
  listen_port      = tonumber(each.value)
  destination_port = tonumber(each.value)
}

resource "hcloud_server" "server" {
  name        = "${var.name}-server"
  server_type = var.node_size
  image       = "ubuntu-24.04"
  location    = var.region
  labels      = local.labels
  user_data = templatefile("${path.module}/cloud-init.yaml.tftpl", {
    role          = "server"
    channel       = local.k3s_channel
    token         = local.k3s_token
    tls_san       = hcloud_load_balancer.this.ipv4
    server_url    = ""
    server_ca_crt = local.server_ca
    server_ca_key = tls_private_key.server_ca.private_key_pem
    client_ca_crt = tls_self_signed_cert.client_ca.cert_pem
    client_ca_key = tls_private_key.client_ca.private_key_pem
  })
}

resource "hcloud_server" "agent" {
  count       = var.node_count - 1
  name        = "${var.name}-agent-${count.index}"
  server_type = var.node_size
  image       = "ubuntu-24.04"
  location    = var.region
  labels      = local.labels
  user_data = templatefile("${path.module}/cloud-init.yaml.tftpl", {
    role          = "agent"
    channel       = local.k3s_channel
    token         = local.k3s_token
    tls_san       = ""
    server_url    = "https://${hcloud_server.server.ipv4_address}:6443"
    server_ca_crt = ""
    server_ca_key = ""
    client_ca_crt = ""
    client_ca_key = ""
  })
}
