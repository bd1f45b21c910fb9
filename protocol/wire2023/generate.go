package wire2023

// Regenerate wire2023.pb.go (make generate): protoc with protoc-gen-go at the
// google.golang.org/protobuf version of go.mod.
//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative wire2023.proto
