// The 2022 era's proof (make wire-proof): tests against the real module of that
// era, github.com/estuary/flow at v0.1.7-0.20230105000454-6475d0da2eab (January
// 2023, the Flush/StartCommit shape). A module of its own because one go.mod holds
// one version of a module path and flowsim's holds today's (v0.6.10): here every
// version of github.com/estuary/flow is replaced by the 2022 one.
module github.com/flowsim/flowsim/protocol/wire2022/proof2022

go 1.26.0

require (
	github.com/estuary/flow v0.6.10
	github.com/flowsim/flowsim v0.0.0-00010101000000-000000000000
	go.gazette.dev/core v0.103.1-0.20260505142537-ce718ada37ee
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/DataDog/zstd v1.5.7 // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/evanphx/json-patch/v5 v5.9.11 // indirect
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/golang/snappy v1.0.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/grpc-ecosystem/grpc-gateway v1.16.0 // indirect
	github.com/hashicorp/golang-lru v1.0.2 // indirect
	github.com/klauspost/compress v1.19.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/prometheus/client_golang v1.24.0 // indirect
	github.com/prometheus/client_model v0.6.2 // indirect
	github.com/prometheus/common v0.70.0 // indirect
	github.com/prometheus/procfs v0.21.1 // indirect
	github.com/sirupsen/logrus v1.9.4 // indirect
	github.com/spf13/afero v1.15.0 // indirect
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto v0.0.0-20251006185510-65f7160b3a87 // indirect
	google.golang.org/genproto/googleapis/api v0.0.0-20260817212433-ac3dfec99bb1 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20260817212433-ac3dfec99bb1 // indirect
)

replace (
	github.com/estuary/flow => github.com/estuary/flow v0.1.7-0.20230105000454-6475d0da2eab
	github.com/flowsim/flowsim => ../../..
)
