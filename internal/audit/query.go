package audit

import (
	"encoding/json"
	"strings"
	"time"
)

// Filter selects records for Query. Zero fields match everything.
type Filter struct {
	Key        string // key id or key ARN: matches resources and requestParameters.keyId
	Principal  string // userIdentity ARN, access key id or user name
	EventName  string
	Since      time.Time
	Until      time.Time
	ErrorsOnly bool
}

// Entry is a record as Query hands it out.
type Entry struct {
	Line      []byte // the record as stored (with its chain member)
	Node      string // the node that recorded it
	Seq       uint64
	Time      time.Time
	EventName string
	Principal string // userIdentity ARN, or the access key id when unauthenticated
	Keys      []string
	ErrorCode string
}

type queryRecord struct {
	EventTime    string `json:"eventTime"`
	EventName    string `json:"eventName"`
	ErrorCode    string `json:"errorCode"`
	UserIdentity struct {
		ARN         string `json:"arn"`
		AccessKeyID string `json:"accessKeyId"`
		UserName    string `json:"userName"`
	} `json:"userIdentity"`
	RequestParameters struct {
		KeyID string `json:"keyId"`
	} `json:"requestParameters"`
	Resources []struct {
		ARN string `json:"ARN"`
	} `json:"resources"`
}

// Query calls fn for every API record of the logs in dir that f selects,
// node by node (sorted by node id), each node's in log order. Digest lines and lines that do not parse are skipped (verify
// reports those). It works on a stopped server's directory and on a
// running one's: a line being written is not yet complete and is skipped.
func Query(dir string, f Filter, fn func(*Entry) error) error {
	nodes, err := Nodes(dir)
	if err != nil {
		return err
	}
	var segs []segment
	for _, n := range nodes {
		ns, err := nodeSegments(dir, n)
		if err != nil {
			return err
		}
		if ns, err = selectSegments(dir, ns, f.Since, f.Until); err != nil {
			return err
		}
		segs = append(segs, ns...)
	}
	for _, s := range segs {
		data, err := readSegment(dir, s)
		if err != nil {
			return err
		}
		lines, _ := splitLines(data)
		for _, b := range lines {
			ln, err := ParseLine(b)
			if err != nil || ln.Digest {
				continue
			}
			var r queryRecord
			if json.Unmarshal(b, &r) != nil {
				continue
			}
			e := Entry{Line: b, Node: ln.Node, Seq: ln.Seq, EventName: r.EventName, ErrorCode: r.ErrorCode, Principal: r.UserIdentity.ARN}
			if e.Principal == "" {
				e.Principal = r.UserIdentity.AccessKeyID
			}
			e.Time, _ = time.Parse(timeLayout, r.EventTime)
			for _, res := range r.Resources {
				e.Keys = append(e.Keys, res.ARN)
			}
			if !f.match(&e, &r) {
				continue
			}
			if err := fn(&e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *Filter) match(e *Entry, r *queryRecord) bool {
	if f.ErrorsOnly && e.ErrorCode == "" {
		return false
	}
	if f.EventName != "" && !strings.EqualFold(f.EventName, e.EventName) {
		return false
	}
	if !f.Since.IsZero() && e.Time.Before(f.Since.Truncate(time.Second)) {
		return false
	}
	if !f.Until.IsZero() && e.Time.After(f.Until) {
		return false
	}
	if f.Principal != "" && f.Principal != r.UserIdentity.ARN && f.Principal != r.UserIdentity.AccessKeyID &&
		f.Principal != r.UserIdentity.UserName {
		return false
	}
	if f.Key != "" {
		ok := f.Key == r.RequestParameters.KeyID
		for _, k := range e.Keys {
			if k == f.Key || strings.HasSuffix(k, ":key/"+f.Key) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
