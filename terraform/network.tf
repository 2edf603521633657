# The network the Dataproc Serverless batches run in. Serverless Spark needs a subnet with
# Private Google Access (the workers have no external IPs and reach GCS and the APIs privately)
# and a firewall rule that lets the workers of one batch talk to each other on every port.

resource "google_compute_network" "main" {
  name                    = "${var.name_prefix}-net"
  auto_create_subnetworks = false

  depends_on = [google_project_service.api]
}

resource "google_compute_subnetwork" "dataproc" {
  name                     = "${var.name_prefix}-dataproc"
  region                   = var.region
  network                  = google_compute_network.main.id
  ip_cidr_range            = var.dataproc_subnet_cidr
  private_ip_google_access = true
}

resource "google_compute_firewall" "dataproc_internal" {
  name          = "${var.name_prefix}-dataproc-internal"
  network       = google_compute_network.main.id
  direction     = "INGRESS"
  source_ranges = [var.dataproc_subnet_cidr]

  allow {
    protocol = "all"
  }
}
