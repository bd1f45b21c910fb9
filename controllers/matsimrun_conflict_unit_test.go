package controllers

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// Issue 20 finding 15: a status write that loses to a newer version of the run is a
// requeue, not a reconcile error (which controller-runtime logs at error level).
func TestRunStatusConflictIsARequeue(t *testing.T) {
	var run = &flowsimv1.MatSimRun{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "r", UID: "run-uid"},
		Spec: flowsimv1.MatSimRunSpec{Test: flowsimv1.TestBasic, Connector: flowsimv1.ConnectorSpec{Image: "x"},
			Config: flowsimv1.ConnectorConfig{SecretRef: &flowsimv1.SecretKeyRef{Name: "s", Key: "k"}}, Resource: runtime.RawExtension{Raw: []byte(`{}`)}}}
	var conflicts int
	var c = fake.NewClientBuilder().WithScheme(envScheme).WithObjects(run).WithStatusSubresource(run).
		WithInterceptorFuncs(interceptor.Funcs{SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			conflicts++
			return apierrors.NewConflict(schema.GroupResource{Group: "flowsim.dev", Resource: "matsimruns"}, obj.GetName(), nil)
		}}).Build()
	var r = &MatSimRunReconciler{Client: c, APIReader: c, Recorder: events.NewFakeRecorder(10)}
	var res, err = r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(run)})
	if conflicts == 0 {
		t.Fatal("the status write was never attempted")
	}
	if err != nil || res.RequeueAfter == 0 {
		t.Errorf("a status write conflict: result %+v, error %v; want a requeue and no error", res, err)
	}
}
