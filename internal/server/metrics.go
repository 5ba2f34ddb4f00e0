package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/trent-kms/trent/internal/awsjson"
	"github.com/trent-kms/trent/internal/awsquery"
	"github.com/trent-kms/trent/internal/xks"
)

// metrics is the server's own Prometheus registry (never the global one, so
// several servers can live in one process, as in tests).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// byOp holds each operation's success counter and histogram, resolved
	// once (and exported at zero from the start, as Prometheus advises).
	// Read-only after newMetrics.
	byOp map[string]opMetrics
	// clusterReg holds the metrics of a node sharing its store (cluster.go).
	clusterReg swapRegisterer
}

type opMetrics struct {
	ok       prometheus.Counter
	duration prometheus.Observer
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trent_requests_total",
			Help: "API requests (KMS, iam:/sts: and XKS proxy operations) by operation and outcome (ok, or the error code returned), those refused while sealed included.",
		}, []string{"operation", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "trent_request_duration_seconds",
			Help:    "API request duration, from the start of the handler to the response written (requests refused while sealed are not timed).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"operation"}),
	}
	m.clusterReg.reg = m.reg
	m.byOp = make(map[string]opMetrics)
	for _, op := range append(append(awsjson.Operations(), awsquery.Operations()...), "unknown") {
		m.byOp[op] = opMetrics{ok: m.requests.WithLabelValues(op, "ok"), duration: m.duration.WithLabelValues(op)}
	}
	m.reg.MustRegister(
		m.requests, m.duration,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
	)
	return m
}

func (m *metrics) observe(o awsjson.Outcome) {
	om, known := m.byOp[o.Operation]
	switch {
	case known && o.Code == "":
		om.ok.Inc()
	case o.Code == "":
		m.requests.WithLabelValues(o.Operation, "ok").Inc()
	default:
		m.requests.WithLabelValues(o.Operation, o.Code).Inc()
	}
	if known {
		om.duration.Observe(o.Duration.Seconds())
	} else {
		m.duration.WithLabelValues(o.Operation).Observe(o.Duration.Seconds())
	}
}

// refused counts (in trent_requests_total only: no handler ran) a request
// refused while sealed or not current: kmsCode is the KMS API's answer; the
// proxy API and the Query protocol answer theirs.
func (m *metrics) refused(r *http.Request, kmsCode string) {
	op, code := awsjson.OperationName(r.Header.Get("X-Amz-Target")), kmsCode
	switch {
	case xks.IsProxyPath(r.URL.Path):
		op, code = xksEventName(r.URL.Path), xks.ErrDependencyTimeout.Name
	case awsquery.IsQueryRequest(r):
		op, code = "unknown", "ServiceUnavailable"
	}
	m.requests.WithLabelValues(op, code).Inc()
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// observeSeal exports the seal state and the barrier's rewrap progress.
func (m *metrics) observeSeal(s *Server) {
	b := s.state.barrier
	gauge := func(name, help string, f func() float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("trent_sealed", "1 while the server is sealed (or not initialised), else 0.", func() float64 {
		if s.svc.Load() == nil {
			return 1
		}
		return 0
	})
	gauge("trent_barrier_data_key_version", "The data-key version new records are sealed under (0 while sealed).", func() float64 {
		return float64(b.DataKey())
	})
	gauge("trent_barrier_rewrap_running", "1 while records are being rewrapped to the current data key.", func() float64 {
		if b.Progress().Running {
			return 1
		}
		return 0
	})
	gauge("trent_barrier_rewrap_remaining", "Records still sealed under an older data key (as of the last scan).", func() float64 {
		return float64(b.Progress().Remaining)
	})
	gauge("trent_barrier_rewrap_rewrapped", "Records moved to the current data key by the running or last rewrap.", func() float64 {
		return float64(b.Progress().Rewrapped)
	})
}
