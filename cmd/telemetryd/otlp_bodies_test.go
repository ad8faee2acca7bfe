package main

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

func logsBody(t *testing.T, seed, n int) []byte {
	t.Helper()
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	now := pcommon.NewTimestampFromTime(time.Now())
	for i := 0; i < n; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(now)
		lr.Body().SetStr(fmt.Sprintf("log %d/%d", seed, i))
	}
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func metricsBody(t *testing.T, seed, n int) []byte {
	t.Helper()
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	now := pcommon.NewTimestampFromTime(time.Now())
	g := sm.Metrics().AppendEmpty()
	g.SetName(fmt.Sprint("fault.gauge.", seed))
	points := g.SetEmptyGauge().DataPoints()
	for i := 0; i < n; i++ {
		dp := points.AppendEmpty()
		dp.SetTimestamp(now)
		dp.SetIntValue(int64(i))
	}
	b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
