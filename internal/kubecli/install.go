package kubecli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/flowsim/flowsim/config"
)

// installFlags choose what is installed.
type installFlags struct {
	prefix     string
	tag        string
	dryRun     bool
	mode       string
	namespaced bool
}

func (f *installFlags) add(cmd *cobra.Command, install bool) {
	var fs = cmd.Flags()
	if install {
		fs.StringVar(&f.prefix, "image-prefix", "flowsim", "registry and path of flowsim's images: PREFIX/manager:TAG and PREFIX/flowsim:TAG (as make docker-build IMAGE_PREFIX)")
		fs.StringVar(&f.tag, "tag", "dev", "tag of flowsim's images (as make docker-build TAG)")
	}
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the manifests as YAML instead of applying them (needs no cluster)")
	var modes = strings.Join(config.Kustomizations(), ", ")
	fs.StringVar(&f.mode, "kustomization", config.Default, "which of the embedded config/ kustomizations to install: "+modes)
	fs.BoolVar(&f.namespaced, "namespaced", false, "the namespaced install mode (config/namespaced: Roles in the watched namespaces instead of a ClusterRole), same as --kustomization namespaced")
}

func (k *kube) installCommand() *cobra.Command {
	var f installFlags
	var cmd = &cobra.Command{
		Use:   "install",
		Short: "Install or upgrade the flowsim operator (CRDs, RBAC, manager) with server-side apply",
		Long: `install applies the manifests of config/default, embedded in this binary, with server-side
apply (field manager "flowsim"): the MatSimRun CRD, the manager's RBAC, the namespace
flowsim-system and the manager Deployment. Running it again is harmless and upgrades
what changed. It waits until the CRDs are established, so that 'flowsim kube run' works
right after it.`,
		Example: `  flowsim kube install                                   # flowsim/manager:dev and flowsim/flowsim:dev (make docker-build)
  flowsim kube install --image-prefix ghcr.io/acme --tag v0.1.0
  flowsim kube install --dry-run > flowsim.yaml          # print, apply nothing`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return k.install(cmd.Context(), &f) },
	}
	f.add(cmd, true)
	return cmd
}

func (k *kube) uninstallCommand() *cobra.Command {
	var f installFlags
	var cmd = &cobra.Command{
		Use:   "uninstall",
		Short: "Remove the flowsim operator, its CRDs and with them every MatSimRun",
		Long: `uninstall deletes what install applied, in reverse order. Deleting the CRDs deletes every
MatSimRun of the cluster (and so their Jobs and pods). Objects already gone are skipped,
so running it twice is harmless.`,
		Example: `  flowsim kube uninstall
  flowsim kube uninstall --dry-run    # list what would be deleted`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return k.uninstall(cmd.Context(), &f) },
	}
	f.add(cmd, false)
	return cmd
}

// manifests builds the objects to install, with the image prefix and tag applied.
func manifests(f *installFlags) ([]*unstructured.Unstructured, error) {
	if f.namespaced {
		if f.mode != config.Default && f.mode != config.Namespaced {
			return nil, usage("--namespaced and --kustomization %s contradict each other", f.mode)
		}
		f.mode = config.Namespaced
		if !slices.Contains(config.Kustomizations(), config.Namespaced) {
			return nil, usage("--namespaced: this flowsim build has no namespaced install mode (config/%s); install with kubectl apply -k from a checkout that has it", config.Namespaced)
		}
	}
	var known = false
	for _, m := range config.Kustomizations() {
		known = known || m == f.mode
	}
	if !known {
		return nil, usage("--kustomization: unknown %q (want one of %s)", f.mode, strings.Join(config.Kustomizations(), ", "))
	}
	if f.prefix == "" || f.tag == "" || strings.ContainsAny(f.tag, ":/@ ") {
		return nil, usage("--image-prefix and --tag must be set, and the tag may not contain ':', '/', '@' or spaces (got %q, %q)", f.prefix, f.tag)
	}
	var stream, err = config.Build(f.mode)
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	var dec = utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(stream), 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("decoding the embedded manifests: %w", err)
		}
		if len(u.Object) == 0 {
			continue
		}
		setImages(&u, f.prefix, f.tag)
		objs = append(objs, &u)
	}
	return objs, nil
}

// setImages points the manager's image and its --flowsim-image at PREFIX/NAME:TAG, where
// NAME is the last path element of the image in config/ (manager, flowsim).
func setImages(u *unstructured.Unstructured, prefix, tag string) {
	if u.GetKind() != "Deployment" {
		return
	}
	var containers, _, _ = unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	for i, c := range containers {
		var m, ok = c.(map[string]any)
		if !ok {
			continue
		}
		if img, ok := m["image"].(string); ok {
			m["image"] = retag(img, prefix, tag)
		}
		if args, ok := m["args"].([]any); ok {
			for j, a := range args {
				if s, ok := a.(string); ok && strings.HasPrefix(s, "--flowsim-image=") {
					args[j] = "--flowsim-image=" + retag(strings.TrimPrefix(s, "--flowsim-image="), prefix, tag)
				}
			}
		}
		containers[i] = m
	}
	_ = unstructured.SetNestedSlice(u.Object, containers, "spec", "template", "spec", "containers")
}

func retag(image, prefix, tag string) string {
	var name = image
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.IndexAny(name, ":@"); i >= 0 {
		name = name[:i]
	}
	return strings.TrimSuffix(prefix, "/") + "/" + name + ":" + tag
}

func printYAML(w io.Writer, objs []*unstructured.Unstructured) error {
	for _, u := range objs {
		var b, err = yaml.Marshal(u.Object)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "---\n%s", b); err != nil {
			return err
		}
	}
	return nil
}

// describeObj names an object as kubectl does: kind.group/name.
func describeObj(u *unstructured.Unstructured) string {
	var gvk = u.GroupVersionKind()
	var kind = strings.ToLower(gvk.Kind)
	if gvk.Group != "" {
		kind += "." + gvk.Group
	}
	return kind + "/" + u.GetName()
}

func (k *kube) install(ctx context.Context, f *installFlags) error {
	var objs, err = manifests(f)
	if err != nil {
		return err
	}
	if f.dryRun {
		return printYAML(k.stdout, objs)
	}
	s, err := k.connect(ctx)
	if err != nil {
		return err
	}
	// CRDs and namespaces first, so that what lives in them can be applied.
	var first, rest []*unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == "CustomResourceDefinition" || u.GetKind() == "Namespace" {
			first = append(first, u)
		} else {
			rest = append(rest, u)
		}
	}
	for _, u := range append(first, rest...) {
		if err := s.c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u.DeepCopy()), client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			return s.apiErr("apply", describeObj(u), "", err)
		}
		fmt.Fprintf(k.stdout, "%s serverside-applied\n", describeObj(u))
	}
	for _, u := range first {
		if u.GetKind() != "CustomResourceDefinition" {
			continue
		}
		if err := s.waitEstablished(ctx, u.GetName()); err != nil {
			return err
		}
	}
	fmt.Fprintf(k.stderr, "flowsim is installed in %s: its manager runs in namespace flowsim-system (image %s)\n",
		s.where(), retag("manager", f.prefix, f.tag))
	return nil
}

// waitEstablished waits (at most a minute) until the API server serves a CRD.
func (s *session) waitEstablished(ctx context.Context, name string) error {
	var last string
	var err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := s.c.Get(ctx, client.ObjectKey{Name: name}, &crd); err != nil {
			return false, err
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
			if c.Type == apiextensionsv1.NamesAccepted && c.Status == apiextensionsv1.ConditionFalse {
				last = c.Message
			}
		}
		return false, nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return usage("the CRD %s was applied but is not established after a minute: %v %s", name, err, last)
	}
	return nil
}

func (k *kube) uninstall(ctx context.Context, f *installFlags) error {
	f.prefix, f.tag = "flowsim", "dev" // images do not matter for deleting
	var objs, err = manifests(f)
	if err != nil {
		return err
	}
	if f.dryRun {
		for i := len(objs) - 1; i >= 0; i-- {
			fmt.Fprintf(k.stdout, "%s would be deleted\n", describeObj(objs[i]))
		}
		return nil
	}
	s, err := k.connect(ctx)
	if err != nil {
		return err
	}
	for i := len(objs) - 1; i >= 0; i-- {
		var u = objs[i]
		err := s.c.Delete(ctx, u, client.PropagationPolicy("Background"))
		switch {
		case err == nil:
			fmt.Fprintf(k.stdout, "%s deleted\n", describeObj(u))
		case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
			fmt.Fprintf(k.stdout, "%s already absent\n", describeObj(u))
		case apierrors.IsConflict(err):
			// A namespace still terminating refuses a second delete with a conflict.
			fmt.Fprintf(k.stdout, "%s already being deleted\n", describeObj(u))
		default:
			return s.apiErr("delete", describeObj(u), "", err)
		}
	}
	return nil
}
