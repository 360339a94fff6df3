// Package deploy holds the checks of talentreg's deployment files: the
// Kubernetes manifests (rendered by kustomize, validated by kubeconform
// against the vendored schemas in kubernetes/schemas), the Prometheus
// rules (promtool check and unit tests) and the container images. Its
// commands regenerate the schemas (cmd/k8sschemas) and build the images
// without a Docker daemon (cmd/ocibuild).
package deploy
