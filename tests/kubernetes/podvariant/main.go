// Command podvariant writes the pod that tests/kubernetes/pod_test.py runs with `podman kube
// play`: the shipped sidecar Deployment's pod (docker/kubernetes/sidecar.yaml) and its ConfigMap,
// decoded strictly, with these changes only:
//   - the app container runs tests/kubernetes/app.py from a local image, with the OpenTelemetry
//     Python SDK of the interop suite mounted (its env, the two lines of the README, is kept);
//   - sidelight exports to a real Collector, a third container in the pod, which writes what it
//     receives to a host directory;
//   - sidelight's admin port is published on a loopback port of the host, so that /healthz is
//     asked from outside the pod (over the pod's own address, not its loopback);
//   - the downward API's spec.nodeName and metadata.namespace, which podman does not resolve,
//     become literal values (this host's name, "default");
//   - the probes are left out: podman runs HTTP probes with curl inside the container, which
//     neither image has; the test asks /healthz and /readyz itself.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	manifests "sidelight/tests/kubernetes"
)

func main() {
	dir := flag.String("dir", "docker/kubernetes", "the shipped manifests")
	out := flag.String("out", "", "where to write the pod's YAML")
	name := flag.String("name", "sidelight-pod-test", "the pod's name")
	sidelightImage := flag.String("sidelight-image", "localhost/sidelight:latest", "")
	appImage := flag.String("app-image", "", "an image with python3")
	collectorImage := flag.String("collector-image", "", "an image with the Collector at /otelcol")
	appDir := flag.String("app-dir", "", "host directory holding app.py")
	sitePackages := flag.String("site-packages", "", "host directory of the OpenTelemetry SDK's site-packages")
	work := flag.String("work", "", "host directory for the Collector's configuration and output")
	adminPort := flag.Int("admin-host-port", 0, "host loopback port for sidelight's admin endpoint")
	nodeName := flag.String("node-name", "", "replaces spec.nodeName, which podman does not resolve")
	flag.Parse()
	if err := run(*dir, *out, *name, *sidelightImage, *appImage, *collectorImage, *appDir,
		*sitePackages, *work, *adminPort, *nodeName); err != nil {
		fmt.Fprintln(os.Stderr, "podvariant:", err)
		os.Exit(1)
	}
}

func run(dir, out, name, sidelightImage, appImage, collectorImage, appDir, sitePackages, work string,
	adminPort int, nodeName string) error {
	var docs []manifests.Document
	for _, f := range []string{"sidecar-config.yaml", "sidecar.yaml"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		d, err := manifests.DecodeStrict(f, data)
		if err != nil {
			return err
		}
		docs = append(docs, d...)
	}
	tmpl := manifests.PodSpecs(docs)["Deployment/example-app"]
	var configMap *corev1.ConfigMap
	for _, d := range docs {
		if cm, ok := d.Object.(*corev1.ConfigMap); ok {
			configMap = cm
		}
	}
	if tmpl == nil || configMap == nil {
		return fmt.Errorf("sidecar.yaml or sidecar-config.yaml changed: no Deployment/example-app or ConfigMap")
	}
	pod := corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
	pod.APIVersion, pod.Kind, pod.Name = "v1", "Pod", name
	spec := &pod.Spec
	spec.RestartPolicy = corev1.RestartPolicyAlways // the default a Deployment's pods have
	hostDir := corev1.HostPathDirectory
	spec.Volumes = append(spec.Volumes,
		corev1.Volume{Name: "test-app", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: appDir, Type: &hostDir}}},
		corev1.Volume{Name: "otel-sdk", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: sitePackages, Type: &hostDir}}},
		corev1.Volume{Name: "collector", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: work, Type: &hostDir}}})
	for i := range spec.Containers {
		c := &spec.Containers[i]
		c.LivenessProbe, c.ReadinessProbe, c.StartupProbe = nil, nil, nil
		switch c.Name {
		case "app":
			c.Image = appImage
			c.Command = []string{"python3", "/test/app.py"}
			c.Env = append(c.Env, corev1.EnvVar{Name: "PYTHONPATH", Value: "/otel-sdk"},
				corev1.EnvVar{Name: "PYTHONUNBUFFERED", Value: "1"})
			c.VolumeMounts = append(c.VolumeMounts,
				corev1.VolumeMount{Name: "test-app", MountPath: "/test", ReadOnly: true},
				corev1.VolumeMount{Name: "otel-sdk", MountPath: "/otel-sdk", ReadOnly: true})
		case "sidelight":
			c.Image = sidelightImage
			c.Args = append(c.Args, "--log-level", "debug") // for the test's failure reports
			for j := range c.Env {
				e := &c.Env[j]
				switch {
				case e.Name == "OTEL_EXPORTER_OTLP_ENDPOINT":
					e.Value = "http://127.0.0.1:4317"
				case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
					// podman resolves metadata.name and metadata.uid; these two it refuses, so
					// they become what Kubernetes would give for a pod in "default" on this node.
					switch e.ValueFrom.FieldRef.FieldPath {
					case "spec.nodeName":
						e.ValueFrom, e.Value = nil, nodeName
					case "metadata.namespace":
						e.ValueFrom, e.Value = nil, "default"
					}
				}
			}
			for j := range c.Ports {
				if c.Ports[j].Name == "admin" {
					c.Ports[j].HostPort, c.Ports[j].HostIP = int32(adminPort), "127.0.0.1"
				}
			}
		}
	}
	root := int64(0)
	spec.Containers = append(spec.Containers, corev1.Container{
		Name:            "collector",
		Image:           collectorImage,
		Args:            []string{"--config", "/work/collector.yaml"},
		VolumeMounts:    []corev1.VolumeMount{{Name: "collector", MountPath: "/work"}},
		SecurityContext: &corev1.SecurityContext{RunAsUser: &root},
	})
	var b strings.Builder
	for _, obj := range []any{configMap, &pod} {
		y, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	// The result must itself decode strictly: the test runs only what the API would accept.
	if _, err := manifests.DecodeStrict(out, []byte(b.String())); err != nil {
		return err
	}
	return os.WriteFile(out, []byte(b.String()), 0o644)
}
