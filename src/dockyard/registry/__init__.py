"""The registry service: blobs, uploads, manifests, tags, referrers and the catalog."""
