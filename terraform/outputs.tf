output "bucket" {
  description = "The Zygarde bucket (upload datasets under datasets/, drop job files under jobs/)."
  value       = google_storage_bucket.main.name
}

output "topics" {
  description = "Topic names by resources.json key."
  value       = { for k, t in google_pubsub_topic.topic : k => t.name }
}

output "functions" {
  description = "Function names by resources.json key."
  value       = { for k, f in google_cloudfunctions2_function.fn : k => f.name }
}

output "spark_service_account" {
  value = google_service_account.spark.email
}

output "dataproc_subnet" {
  value = google_compute_subnetwork.dataproc.self_link
}

output "code_uri" {
  description = "Where Cloud Build uploads the Spark code for this deployment."
  value       = "gs://${google_storage_bucket.main.name}/${local.r.bucket_prefixes.code}${var.code_version}/"
}

output "web_url" {
  description = "The web app (through IAP), if deployed."
  value       = var.web_image == "" ? null : google_cloud_run_v2_service.web[0].uri
}
