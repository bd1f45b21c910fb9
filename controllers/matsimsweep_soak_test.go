package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	flowsimv1 "github.com/flowsim/flowsim/api/v1alpha1"
)

// BenchmarkSweepFleetSoak (issue 20): 1,000 targets in 50 namespaces, five nights, with
// faults: a ResourceQuota refusing every run of one namespace, every 40th create, delete
// and status write of the manager failing with 503, the manager restarted in the middle
// of night 3, a namespace deleted in the middle of night 4. Asserted: every night's
// execution completes, the watch never sees more than maxParallelRuns unfinished runs,
// no item has two runs, API writes per run ≤ 3, and every item has an outcome.
//
//	KUBEBUILDER_ASSETS="$(bash hack/envtest.sh path)" go test -tags nozstd -run '^$' -bench FleetSoak -benchtime 1x ./controllers/
func BenchmarkSweepFleetSoak(b *testing.B) {
	const namespaces, perNamespace, maxParallel = 50, 20, 100
	for i := 0; i < b.N; i++ {
		var e = newSweepEnv(b, namespaces)
		var quota = &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: e.namespaces[0], Name: "no-runs"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"count/matsimruns.flowsim.dev": resource.MustParse("0")}}}
		if err := e.c.Create(ctx, quota); err != nil {
			b.Fatal(err)
		}
		quota.Status = corev1.ResourceQuotaStatus{Hard: quota.Spec.Hard, Used: corev1.ResourceList{"count/matsimruns.flowsim.dev": resource.MustParse("0")}}
		if err := e.c.Status().Update(ctx, quota); err != nil {
			b.Fatal(err)
		}
		for n := 0; n < namespaces; n++ {
			for j := 0; j < perNamespace; j++ {
				e.target(n, fmt.Sprintf("conn-%02d", j), flowsimv1.TestBasic)
			}
		}
		e.createSweep(func(s *flowsimv1.MatSimSweepSpec) {
			s.MaxParallelRuns, s.MaxParallelRunsPerNamespace = maxParallel, ptr.To[int32](5)
			s.SuccessfulExecutionsHistoryLimit, s.FailedExecutionsHistoryLimit = ptr.To[int32](10), ptr.To[int32](10)
		})
		e.stopManager()
		e.startManager()
		e.writes.failEvery = 40
		var most, stop = e.watchMaxUnfinished()
		var writes, creates, runsCreated int64
		var start = time.Now()
		for night := 1; night <= 5; night++ {
			e.tick(night, "02:00:00")
			var ex = e.nightly(night)
			e.waitSweep("night "+ex+" starts", func(sw *flowsimv1.MatSimSweep) error {
				for _, a := range sw.Status.Active {
					if a.Name == ex {
						return nil
					}
				}
				return fmt.Errorf("not active yet")
			})
			switch night {
			case 3: // the manager restarts mid-execution
				e.waitRuns(ex, maxParallel)
				writes, creates = writes+e.writes.writes(), creates+e.writes.creates.Load()
				e.stopManager()
				e.startManager()
				e.writes.failEvery = 40
			case 4: // a namespace is deleted mid-execution
				e.waitRuns(ex, maxParallel)
				if err := e.c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.namespaces[namespaces-1]}}); err != nil {
					b.Fatal(err)
				}
			}
			e.driveToCompletion(ex)
			var sw = e.get()
			var h flowsimv1.SweepExecution
			for _, x := range sw.Status.History {
				if x.Name == ex {
					h = x
				}
			}
			var runs = e.runs(ex)
			var names = map[string]bool{}
			for _, r := range runs {
				var item = r.Namespace + "/" + r.Labels[flowsimv1.LabelTarget] + "/" + r.Labels[flowsimv1.LabelTest]
				if names[item] {
					b.Errorf("night %d: item %s has two runs", night, item)
				}
				names[item] = true
			}
			runsCreated += int64(len(runs))
			var c = h.Counts
			if c.Finished() != c.Total || c.Total == 0 || c.Error < perNamespace {
				b.Errorf("night %d: counts %+v; want every item with an outcome, the %d of the quota's namespace in error", night, c, perNamespace)
			}
			b.Logf("night %d: %s %+v, %d runs, peak unfinished %d, %v", night, h.Phase, c, len(runs), most(), time.Since(start).Round(time.Second))
		}
		stop()
		writes, creates = writes+e.writes.writes(), creates+e.writes.creates.Load()
		if m := most(); m > maxParallel {
			b.Errorf("the watch saw %d unfinished runs at once, more than maxParallelRuns %d", m, maxParallel)
		}
		var perRun = float64(writes) / float64(runsCreated)
		b.ReportMetric(perRun, "writes/run")
		b.ReportMetric(time.Since(start).Seconds()/5, "s/night")
		b.Logf("5 nights: %d runs created, %d API writes (%d creates, with injected 503s and refusals), %.2f writes per run, peak %d unfinished, %v",
			runsCreated, writes, creates, perRun, most(), time.Since(start).Round(time.Second))
		if perRun > 3 {
			b.Errorf("%.2f API writes per run, more than 3", perRun)
		}
		e.stopManager()
		_ = e.c.Delete(context.Background(), e.get())
	}
}
