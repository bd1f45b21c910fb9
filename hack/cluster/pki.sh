# PKI of the local test cluster (sourced by hack/cluster/up): one CA, the API server's
# serving certificate, a client certificate per component, the service-account key pair.
# ECDSA P-256 keys: generating them takes milliseconds, RSA keys take seconds each here.

pki_key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; chmod 600 "$1"; }

# pki_cert NAME CN ORG [SAN]: a certificate signed by the cluster CA.
pki_cert() {
  local name="$1" cn="$2" org="$3" san="${4:-}" dir="$STATE/pki" subj ext
  subj="/CN=$cn"
  [[ -n "$org" ]] && subj="/O=$org$subj"
  pki_key "$dir/$name.key"
  openssl req -new -key "$dir/$name.key" -subj "$subj" -out "$dir/$name.csr" 2>/dev/null
  ext="$dir/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n "$san" ]]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=$san"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } >"$ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 365 -sha256 -extfile "$ext" -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr" "$ext"
}

# pki_kubeconfig NAME: a kubeconfig for the client certificate NAME.
pki_kubeconfig() {
  local name="$1" out="$2" dir="$STATE/pki"
  cat >"$out" <<KC
apiVersion: v1
kind: Config
clusters:
- name: flowsim
  cluster:
    server: https://$NODE_IP:$APISERVER_PORT
    certificate-authority: $dir/ca.crt
users:
- name: $name
  user:
    client-certificate: $dir/$name.crt
    client-key: $dir/$name.key
contexts:
- name: flowsim
  context:
    cluster: flowsim
    user: $name
current-context: flowsim
KC
  chmod 600 "$out"
}

make_pki() {
  local dir="$STATE/pki"
  [[ -f "$dir/.complete" ]] && return 0
  rm -rf "$dir"
  mkdir -p "$dir"
  pki_key "$dir/ca.key"
  openssl req -x509 -new -key "$dir/ca.key" -subj "/CN=flowsim-cluster-ca" -days 365 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$dir/ca.crt" 2>/dev/null
  pki_cert apiserver kube-apiserver "" \
    "IP:$NODE_IP,IP:$KUBERNETES_SVC_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  pki_cert kubelet-server "system:node:$NODE_NAME" system:nodes "IP:$NODE_IP,DNS:$NODE_NAME,DNS:localhost"
  pki_cert admin flowsim-admin system:masters
  pki_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  pki_cert kube-controller-manager system:kube-controller-manager ""
  pki_cert kube-scheduler system:kube-scheduler ""
  pki_cert kubelet "system:node:$NODE_NAME" system:nodes
  pki_cert kube-proxy system:kube-proxy ""
  pki_key "$dir/sa.key"
  openssl ec -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  local c
  for c in admin kube-controller-manager kube-scheduler kubelet kube-proxy; do
    pki_kubeconfig "$c" "$STATE/$c.kubeconfig"
  done
  touch "$dir/.complete"
}
