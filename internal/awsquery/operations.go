package awsquery

import (
	"context"
	"sort"

	"github.com/trent-kms/trent/internal/iam"
)

// The two services of this front door: signing name, API version,
// XML namespace, CloudTrail event source.
type service struct {
	Name, Version, Namespace, EventSource string
}

var (
	svcIAM = &service{Name: "iam", Version: "2010-05-08", Namespace: "https://iam.amazonaws.com/doc/2010-05-08/", EventSource: "iam.amazonaws.com"}
	svcSTS = &service{Name: "sts", Version: "2011-06-15", Namespace: "https://sts.amazonaws.com/doc/2011-06-15/", EventSource: "sts.amazonaws.com"}
)

// operation is one row of the table.
type operation struct {
	Name     string // the Action, "CreateUser"
	Service  *service
	ReadOnly bool // CloudTrail's readOnly
	binding
}

type binding struct {
	decode func(v Values) (any, error)
	call   func(svc *iam.Service, ctx context.Context, c iam.Caller, in any) (any, error)
}

// op binds an iam.Service method to the pipeline.
func op[In, Out any](fn func(*iam.Service, context.Context, iam.Caller, *In) (*Out, error)) binding {
	return binding{
		decode: func(v Values) (any, error) {
			in := new(In)
			if err := Decode(v, in, "Action", "Version"); err != nil {
				return nil, err
			}
			return in, nil
		},
		call: func(svc *iam.Service, ctx context.Context, c iam.Caller, in any) (any, error) {
			out, err := fn(svc, ctx, c, in.(*In))
			if err != nil || out == nil {
				return nil, err
			}
			return out, nil
		},
	}
}

// operations is the table of supported actions (IAM's and STS's action
// names do not overlap). It doubles as the list of supported operations.
var operations = map[string]operation{
	"CreateUser":             {Name: "CreateUser", Service: svcIAM, binding: op((*iam.Service).CreateUser)},
	"GetUser":                {Name: "GetUser", Service: svcIAM, ReadOnly: true, binding: op((*iam.Service).GetUser)},
	"ListUsers":              {Name: "ListUsers", Service: svcIAM, ReadOnly: true, binding: op((*iam.Service).ListUsers)},
	"DeleteUser":             {Name: "DeleteUser", Service: svcIAM, binding: op((*iam.Service).DeleteUser)},
	"TagUser":                {Name: "TagUser", Service: svcIAM, binding: op((*iam.Service).TagUser)},
	"UntagUser":              {Name: "UntagUser", Service: svcIAM, binding: op((*iam.Service).UntagUser)},
	"ListUserTags":           {Name: "ListUserTags", Service: svcIAM, ReadOnly: true, binding: op((*iam.Service).ListUserTags)},
	"CreateAccessKey":        {Name: "CreateAccessKey", Service: svcIAM, binding: op((*iam.Service).CreateAccessKey)},
	"ListAccessKeys":         {Name: "ListAccessKeys", Service: svcIAM, ReadOnly: true, binding: op((*iam.Service).ListAccessKeys)},
	"UpdateAccessKey":        {Name: "UpdateAccessKey", Service: svcIAM, binding: op((*iam.Service).UpdateAccessKey)},
	"DeleteAccessKey":        {Name: "DeleteAccessKey", Service: svcIAM, binding: op((*iam.Service).DeleteAccessKey)},
	"PutUserPolicy":          {Name: "PutUserPolicy", Service: svcIAM, binding: op((*iam.Service).PutUserPolicy)},
	"GetUserPolicy":          {Name: "GetUserPolicy", Service: svcIAM, ReadOnly: true, binding: op((*iam.Service).GetUserPolicy)},
	"ListUserPolicies":       {Name: "ListUserPolicies", Service: svcIAM, ReadOnly: true, binding: op((*iam.Service).ListUserPolicies)},
	"DeleteUserPolicy":       {Name: "DeleteUserPolicy", Service: svcIAM, binding: op((*iam.Service).DeleteUserPolicy)},
	"CreateRole":             {Name: "CreateRole", Service: svcIAM, binding: op((*iam.Service).CreateRole)},
	"GetRole":                {Name: "GetRole", Service: svcIAM, ReadOnly: true, binding: op((*iam.Service).GetRole)},
	"ListRoles":              {Name: "ListRoles", Service: svcIAM, ReadOnly: true, binding: op((*iam.Service).ListRoles)},
	"DeleteRole":             {Name: "DeleteRole", Service: svcIAM, binding: op((*iam.Service).DeleteRole)},
	"TagRole":                {Name: "TagRole", Service: svcIAM, binding: op((*iam.Service).TagRole)},
	"UntagRole":              {Name: "UntagRole", Service: svcIAM, binding: op((*iam.Service).UntagRole)},
	"ListRoleTags":           {Name: "ListRoleTags", Service: svcIAM, ReadOnly: true, binding: op((*iam.Service).ListRoleTags)},
	"UpdateAssumeRolePolicy": {Name: "UpdateAssumeRolePolicy", Service: svcIAM, binding: op((*iam.Service).UpdateAssumeRolePolicy)},
	"ListRolePolicies":       {Name: "ListRolePolicies", Service: svcIAM, ReadOnly: true, binding: op((*iam.Service).ListRolePolicies)},
	"PutRolePolicy":          {Name: "PutRolePolicy", Service: svcIAM, binding: op((*iam.Service).PutRolePolicy)},
	"GetRolePolicy":          {Name: "GetRolePolicy", Service: svcIAM, ReadOnly: true, binding: op((*iam.Service).GetRolePolicy)},
	"DeleteRolePolicy":       {Name: "DeleteRolePolicy", Service: svcIAM, binding: op((*iam.Service).DeleteRolePolicy)},

	"GetCallerIdentity": {Name: "GetCallerIdentity", Service: svcSTS, ReadOnly: true, binding: op((*iam.Service).GetCallerIdentity)},
	"AssumeRole":        {Name: "AssumeRole", Service: svcSTS, binding: op((*iam.Service).AssumeRole)},
}

// Operations returns "iam:CreateUser", "sts:AssumeRole", ... sorted.
func Operations() []string {
	names := make([]string, 0, len(operations))
	for _, o := range operations {
		names = append(names, o.Service.Name+":"+o.Name)
	}
	sort.Strings(names)
	return names
}
