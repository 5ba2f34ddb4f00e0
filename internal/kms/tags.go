package kms

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trent-kms/trent/internal/kmserr"
)

func (v *validator) tags(tags []Tag) {
	for i, t := range tags {
		v.strLen(fmt.Sprintf("tags.%d.member.tagKey", i+1), t.TagKey, 1, maxTagKeyLen)
		v.strLen(fmt.Sprintf("tags.%d.member.tagValue", i+1), t.TagValue, 0, maxTagValueLen)
	}
}

// checkTags applies AWS's TagException rules to tags about to be added to
// existing.
func checkTags(add, existing []Tag) error {
	seen := make(map[string]bool, len(add))
	for _, t := range add {
		if seen[t.TagKey] {
			return kmserr.ErrTag.With("Duplicate tag keys")
		}
		seen[t.TagKey] = true
	}
	for _, t := range add {
		if len(t.TagKey) >= 4 && strings.EqualFold(t.TagKey[:4], "aws:") {
			return kmserr.ErrTag.With("Tags beginning with aws: are reserved")
		}
	}
	if len(mergeTags(existing, add)) > maxTagsPerKey {
		return kmserr.ErrTag.With("Too many tags")
	}
	return nil
}

// mergeTags returns existing with add applied (values replaced), sorted by key.
func mergeTags(existing, add []Tag) []Tag {
	out := slices.Clone(existing)
	for _, t := range add {
		i, found := slices.BinarySearchFunc(out, t.TagKey, func(e Tag, k string) int { return strings.Compare(e.TagKey, k) })
		if found {
			out[i].TagValue = t.TagValue
		} else {
			out = slices.Insert(out, i, t)
		}
	}
	return out
}

// TagResource adds or replaces tags on a key.
func (s *Service) TagResource(ctx context.Context, c Caller, in *TagResourceInput) (*TagResourceOutput, error) {
	var v validator
	if in.Tags == nil {
		v.Required("tags")
	}
	v.tags(in.Tags)
	a := opAccess("TagResource")
	a.requestTags, a.tagKeys = tagConditions(in.Tags)
	_, err := s.mutateKeyFor(ctx, c, a, in.KeyId, &v, func(k *key, _ time.Time) (*key, error) {
		if err := k.notPendingDeletion(); err != nil {
			return nil, err
		}
		if err := checkTags(in.Tags, k.tags); err != nil {
			return nil, err
		}
		nk := k.clone()
		nk.tags = mergeTags(k.tags, in.Tags)
		return nk, nil
	})
	if err != nil {
		return nil, err
	}
	return &TagResourceOutput{}, nil
}

// UntagResource removes tags; unknown tag keys are ignored.
func (s *Service) UntagResource(ctx context.Context, c Caller, in *UntagResourceInput) (*UntagResourceOutput, error) {
	var v validator
	if in.TagKeys == nil {
		v.Required("tagKeys")
	}
	for i, tk := range in.TagKeys {
		v.strLen(fmt.Sprintf("tagKeys.%d.member", i+1), tk, 1, maxTagKeyLen)
	}
	a := opAccess("UntagResource")
	a.tagKeys = in.TagKeys
	_, err := s.mutateKeyFor(ctx, c, a, in.KeyId, &v, func(k *key, _ time.Time) (*key, error) {
		if err := k.notPendingDeletion(); err != nil {
			return nil, err
		}
		for _, tk := range in.TagKeys {
			if len(tk) >= 4 && strings.EqualFold(tk[:4], "aws:") {
				return nil, kmserr.ErrTag.With("Tags beginning with aws: are reserved")
			}
		}
		nt := slices.DeleteFunc(slices.Clone(k.tags), func(t Tag) bool { return slices.Contains(in.TagKeys, t.TagKey) })
		if len(nt) == len(k.tags) {
			return nil, nil
		}
		nk := k.clone()
		nk.tags = nt
		return nk, nil
	})
	if err != nil {
		return nil, err
	}
	return &UntagResourceOutput{}, nil
}

// ListResourceTags lists a key's tags ordered by tag key.
func (s *Service) ListResourceTags(ctx context.Context, c Caller, in *ListResourceTagsInput) (*ListResourceTagsOutput, error) {
	sc, err := callerScope(c)
	if err != nil {
		return nil, err
	}
	var v validator
	v.keyID("keyId", in.KeyId, true)
	v.intRange("limit", in.Limit, 1, 50)
	v.marker(in.Marker)
	if err := v.Err(); err != nil {
		return nil, err
	}
	k, err := s.resolveKey(c, sc, "ListResourceTags", in.KeyId, false)
	if err != nil {
		return nil, err
	}
	pg, next, trunc, err := page(k.tags, func(t Tag) string { return t.TagKey }, "t", in.Marker, limitOr(in.Limit, 50))
	if err != nil {
		return nil, err
	}
	return &ListResourceTagsOutput{Tags: nonNil(slices.Clone(pg)), NextMarker: next, Truncated: trunc}, nil
}
