# Firestore in native mode holds job, trial, slot and model state.
# The code uses the (default) database: google.cloud.firestore.Client() with no database argument.
resource "google_firestore_database" "main" {
  name            = "(default)"
  location_id     = local.firestore_location
  type            = "FIRESTORE_NATIVE"
  deletion_policy = var.firestore_deletion_policy

  depends_on = [google_project_service.api]
}

# Queries the code makes and the index each needs:
#
# 1. collection group "trials" where state in [...]   (the reconciler: every active trial)
#    -> single-field index on trials.state with COLLECTION_GROUP scope (automatic single-field
#       indexes only cover COLLECTION scope). Setting index_config replaces the field's automatic
#       indexes, so the collection-scope ascending one is listed again.
# 2. trials of one job ordered by "index"  (jobs/{id}/trials order by index)
#    -> covered by the automatic single-field index on "index"; Firestore refuses a composite
#       index of one field, so none is declared.
# 3. jobs where owner == X order by created_at desc   (a user's jobs, newest first)
# 4. jobs where state in [...] order by created_at     (running jobs, oldest first)
# 5. jobs where owner == X and state in [...]          (a user's running jobs: list_jobs(owner, states))
#    -> composite indexes on the jobs collection.
# 6. collection group "trials" where kind == "prepare" and state == "WAITING"   (the reconciler's
#    sweep of trials left without their job)
#    -> a composite index with COLLECTION_GROUP scope.
#
# The index operations are chained with depends_on: Firestore answers concurrent index changes on
# one database with 409 contention errors.

resource "google_firestore_field" "trials_state" {
  database   = google_firestore_database.main.name
  collection = local.r.collections.trials
  field      = "state"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION"
    }
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }
}

resource "google_firestore_index" "jobs_by_owner" {
  database    = google_firestore_database.main.name
  collection  = local.r.collections.jobs
  query_scope = "COLLECTION"

  fields {
    field_path = "owner"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }

  depends_on = [google_firestore_field.trials_state]
}

resource "google_firestore_index" "jobs_by_state" {
  database    = google_firestore_database.main.name
  collection  = local.r.collections.jobs
  query_scope = "COLLECTION"

  fields {
    field_path = "state"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_index.jobs_by_owner]
}

resource "google_firestore_index" "jobs_by_owner_and_state" {
  database    = google_firestore_database.main.name
  collection  = local.r.collections.jobs
  query_scope = "COLLECTION"

  fields {
    field_path = "owner"
    order      = "ASCENDING"
  }
  fields {
    field_path = "state"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_index.jobs_by_state]
}

resource "google_firestore_index" "trials_by_kind_and_state" {
  database    = google_firestore_database.main.name
  collection  = local.r.collections.trials
  query_scope = "COLLECTION_GROUP"

  fields {
    field_path = "kind"
    order      = "ASCENDING"
  }
  fields {
    field_path = "state"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_index.jobs_by_owner_and_state]
}

# A batch's trials still running (SettleBatch: is any of its work left?), read with a limit.
resource "google_firestore_index" "trials_by_batch_and_state" {
  database    = google_firestore_database.main.name
  collection  = local.r.collections.trials
  query_scope = "COLLECTION"

  fields {
    field_path = "batch_id"
    order      = "ASCENDING"
  }
  fields {
    field_path = "state"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_index.trials_by_kind_and_state]
}
