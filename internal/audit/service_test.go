package audit

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/trent-kms/trent/internal/audit/audittest"
	"github.com/trent-kms/trent/internal/iam"
	"github.com/trent-kms/trent/internal/kms"
	"github.com/trent-kms/trent/internal/storage/memstore"
)

// TestServiceEventsRecorded: what the KMS service does on its own (a key
// deleted at the end of its waiting period, an automatic rotation) is
// recorded as CloudTrail records AWS KMS's service events: eventType
// AwsServiceEvent, userIdentity the key's account invoked by "AWS
// Internal", no requestID, the key in resources and serviceEventDetails;
// and the log verifies.
func TestServiceEventsRecorded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	l := mustOpen(t, Options{Dir: dir})
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	svc, err := kms.New(ctx, kms.Config{Store: memstore.New(), Now: clock, Events: l.RecordServiceEvent})
	if err != nil {
		t.Fatal(err)
	}
	c := kms.Caller{Principal: iam.Principal{AccountID: "111122223333", ARN: "arn:aws:iam::111122223333:root", Type: iam.Root}, Region: "eu-west-1"}
	var rot, del *kms.KeyMetadata
	for _, md := range []**kms.KeyMetadata{&rot, &del} {
		out, err := svc.CreateKey(ctx, c, &kms.CreateKeyInput{})
		if err != nil {
			t.Fatal(err)
		}
		*md = out.KeyMetadata
	}
	if _, err := svc.EnableKeyRotation(ctx, c, &kms.EnableKeyRotationInput{KeyId: rot.KeyId}); err != nil {
		t.Fatal(err)
	}
	seven := int32(7)
	if _, err := svc.ScheduleKeyDeletion(ctx, c, &kms.ScheduleKeyDeletionInput{KeyId: del.KeyId, PendingWindowInDays: &seven}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(366 * 24 * time.Hour)
	mu.Unlock()
	if err := svc.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := svc.DescribeKey(ctx, c, &kms.DescribeKeyInput{KeyId: rot.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	recs := map[string]map[string]any{}
	for _, ln := range lines(t, dir) {
		audittest.MustValidate(t, ln)
		var m map[string]any
		if err := json.Unmarshal(ln, &m); err != nil {
			t.Fatal(err)
		}
		if m["eventType"] == "AwsServiceEvent" {
			recs[m["eventName"].(string)] = m
		}
	}
	if len(recs) != 2 {
		t.Fatalf("service events = %v, want RotateKey and DeleteKey", recs)
	}
	for name, want := range map[string]struct {
		md      *kms.KeyMetadata
		details map[string]any
	}{
		"DeleteKey": {del, map[string]any{"keyId": del.KeyId}},
		"RotateKey": {rot, map[string]any{"keyId": rot.KeyId, "rotationType": "AUTOMATIC", "keyOrigin": "AWS_KMS",
			"previousKeyMaterialId": rot.CurrentKeyMaterialId, "currentKeyMaterialId": d.KeyMetadata.CurrentKeyMaterialId}},
	} {
		r := recs[name]
		id, _ := r["userIdentity"].(map[string]any)
		res, _ := r["resources"].([]any)
		if len(id) != 2 || id["accountId"] != "111122223333" || id["invokedBy"] != Internal ||
			r["sourceIPAddress"] != Internal || r["userAgent"] != Internal || r["awsRegion"] != "eu-west-1" ||
			r["requestParameters"] != nil || r["responseElements"] != nil || r["requestID"] != nil || r["readOnly"] != false ||
			r["recipientAccountId"] != "111122223333" || r["eventSource"] != SourceKMS ||
			r["eventTime"] != now.Format(timeLayout) || len(res) != 1 || res[0].(map[string]any)["ARN"] != want.md.Arn {
			t.Errorf("%s record = %v", name, r)
		}
		got, _ := json.Marshal(r["serviceEventDetails"])
		wantJSON, _ := json.Marshal(want.details)
		if string(got) != string(wantJSON) {
			t.Errorf("%s serviceEventDetails = %s, want %s", name, got, wantJSON)
		}
	}
	if rot.CurrentKeyMaterialId == d.KeyMetadata.CurrentKeyMaterialId {
		t.Error("the rotation did not change the key material")
	}
	if rep := verify(t, dir); rep.Problem != nil || rep.Records != len(recs) {
		t.Errorf("Verify = %+v, %d records", rep.Problem, rep.Records)
	}
}
