"""Images and image streams as API resources (OpenShift's image.openshift.io/v1)."""
