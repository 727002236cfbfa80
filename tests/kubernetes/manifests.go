// Package manifests decodes the Kubernetes manifests in docker/kubernetes/ into the Kubernetes
// API's own Go types, strictly: a field the API does not have (a typo), a duplicated key, or a
// value of the wrong type is an error, as it would be for `kubectl apply --validate=strict`.
package manifests

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// Document is one YAML document of a manifest file, decoded.
type Document struct {
	File   string
	Index  int // 0-based, within the file
	Kind   string
	Name   string
	Object any // *appsv1.Deployment, *appsv1.DaemonSet, *corev1.ConfigMap, *corev1.Service, *corev1.Pod
}

// unmarshalStrict decodes YAML as the API server decodes JSON with strict field validation: field
// names match case-sensitively (encoding/json would take "fieldpath" for fieldPath), and an
// unknown or duplicated field is an error.
func unmarshalStrict(raw []byte, obj any) error {
	js, err := yaml.YAMLToJSONStrict(raw)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(js, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// newObject returns an empty object of the API type for apiVersion and kind.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + "/" + kind {
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, nil
	case "apps/v1/DaemonSet":
		return &appsv1.DaemonSet{}, nil
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1/Service":
		return &corev1.Service{}, nil
	case "v1/Pod":
		return &corev1.Pod{}, nil
	}
	return nil, fmt.Errorf("apiVersion %q kind %q: not a type these manifests use", apiVersion, kind)
}

// SplitDocuments splits a YAML stream at its "---" lines, leaving out documents that hold only
// comments or blank lines.
func SplitDocuments(data []byte) [][]byte {
	var out [][]byte
	var cur strings.Builder
	content := false
	flush := func() {
		if content {
			out = append(out, []byte(cur.String()))
		}
		cur.Reset()
		content = false
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		t := strings.TrimRight(line, " \t\r\n")
		if t == "---" || strings.HasPrefix(t, "--- ") {
			flush()
			continue
		}
		cur.WriteString(line)
		if s := strings.TrimSpace(t); s != "" && !strings.HasPrefix(s, "#") {
			content = true
		}
	}
	flush()
	return out
}

// DecodeStrict decodes every document of a manifest file into its API type. Unknown fields,
// duplicate keys and wrongly typed values are errors that name the file and the document.
func DecodeStrict(file string, data []byte) ([]Document, error) {
	var docs []Document
	for i, raw := range SplitDocuments(data) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i+1, err)
		}
		obj, err := newObject(head.APIVersion, head.Kind)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i+1, err)
		}
		if err := unmarshalStrict(raw, obj); err != nil {
			return nil, fmt.Errorf("%s: document %d (%s): %w", file, i+1, head.Kind, err)
		}
		docs = append(docs, Document{File: file, Index: i, Kind: head.Kind, Name: nameOf(obj), Object: obj})
	}
	return docs, nil
}

func nameOf(obj any) string {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return o.Name
	case *appsv1.DaemonSet:
		return o.Name
	case *corev1.ConfigMap:
		return o.Name
	case *corev1.Service:
		return o.Name
	case *corev1.Pod:
		return o.Name
	}
	return ""
}

// LoadKustomization decodes kustomization.yaml strictly into kustomize's own type.
func LoadKustomization(dir string) (*types.Kustomization, error) {
	path := filepath.Join(dir, "kustomization.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k types.Kustomization
	if err := unmarshalStrict(data, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &k, nil
}

// LoadDir decodes every manifest the kustomization of dir lists.
func LoadDir(dir string) ([]Document, error) {
	k, err := LoadKustomization(dir)
	if err != nil {
		return nil, err
	}
	// Every file's problems at once, not only the first file's.
	var all []Document
	var problems []error
	for _, res := range k.Resources {
		data, err := os.ReadFile(filepath.Join(dir, res))
		if err != nil {
			problems = append(problems, err)
			continue
		}
		docs, err := DecodeStrict(res, data)
		if err != nil {
			problems = append(problems, err)
		}
		all = append(all, docs...)
	}
	return all, errors.Join(problems...)
}

// PodSpecs returns each workload's pod template by "Kind/name".
func PodSpecs(docs []Document) map[string]*corev1.PodTemplateSpec {
	out := map[string]*corev1.PodTemplateSpec{}
	for _, d := range docs {
		switch o := d.Object.(type) {
		case *appsv1.Deployment:
			out["Deployment/"+o.Name] = &o.Spec.Template
		case *appsv1.DaemonSet:
			out["DaemonSet/"+o.Name] = &o.Spec.Template
		case *corev1.Pod:
			out["Pod/"+o.Name] = &corev1.PodTemplateSpec{ObjectMeta: o.ObjectMeta, Spec: o.Spec}
		}
	}
	return out
}
