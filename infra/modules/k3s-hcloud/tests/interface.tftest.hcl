# tofu test with a mock hcloud provider and the real tls provider: the module honours the cluster interface and
# its kubeconfig reaches the API through the load balancer with a system:masters client certificate.

mock_provider "hcloud" {
  mock_resource "hcloud_load_balancer" {
    defaults = {
      ipv4 = "203.0.113.10"
    }
  }
  mock_resource "hcloud_server" {
    defaults = {
      ipv4_address = "203.0.113.20"
    }
  }
}

variables {
  name               = "cattle-staging"
  region             = "fsn1"
  kubernetes_version = "1.36"
  node_size          = "cpx32"
  node_count         = 3
}

run "interface_outputs" {
  command = apply
  assert {
    condition     = output.api_endpoint == "https://203.0.113.10:6443"
    error_message = "the API is reached through the load balancer"
  }
  assert {
    condition     = output.load_balancer_address == "203.0.113.10"
    error_message = "the ingress address is an output"
  }
  assert {
    condition     = yamldecode(output.kubeconfig)["current-context"] == "cattle-staging"
    error_message = "the kubeconfig's current context is the cluster"
  }
  assert {
    condition     = length(hcloud_server.agent) == 2
    error_message = "node_count counts the server node too"
  }
  assert {
    condition     = strcontains(hcloud_server.server.user_data, "INSTALL_K3S_CHANNEL=v1.36")
    error_message = "k3s follows the declared Kubernetes minor version"
  }
}
