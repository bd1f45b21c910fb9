//go:build deps

// Package deps pins modules that parts of flowsim under construction will import,
// so that go.mod stays stable while several people edit the tree. Remove an import
// here once real code imports the package.
package deps

import (
	_ "github.com/estuary/protocols/fdb/tuple"
	_ "github.com/estuary/protocols/flow"
	_ "github.com/estuary/protocols/materialize"
	_ "github.com/go-logr/logr"
	_ "github.com/go-logr/zapr"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/pgconn"
	_ "github.com/spf13/cobra"
	_ "go.gazette.dev/core/consumer/protocol"
	_ "go.uber.org/zap"
	_ "google.golang.org/grpc"
	_ "google.golang.org/grpc/health"
	_ "google.golang.org/grpc/health/grpc_health_v1"
	_ "gopkg.in/yaml.v3"
	_ "k8s.io/api/batch/v1"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/api/networking/v1"
	_ "k8s.io/apimachinery/pkg/apis/meta/v1"
	_ "k8s.io/client-go/kubernetes"
	_ "sigs.k8s.io/controller-runtime"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
	_ "github.com/prometheus/client_golang/prometheus"
)
