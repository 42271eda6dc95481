package undo

// kindTrustBundle is the undo-file kind of a user-made ClusterTrustBundle
// that bundle or unbundle --trust-bundles changed: its one key is
// spec.trustBundle, it has no namespace, and it is restored like a
// ConfigMap key (only while its resourceVersion is the one the command
// left).
const kindTrustBundle = "ClusterTrustBundle"
