package iam

import (
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Inputs and outputs of the operations. Input field names are the AWS
// members' names (internal/awsquery decodes form parameters into them by
// name); outputs carry the XML element names of AWS's responses.

// Caller is who makes a request.
type Caller struct {
	Principal Principal
	// SourceIP and SecureTransport feed aws:SourceIp and aws:SecureTransport.
	SourceIP        string
	SecureTransport bool
	RequestID       string
}

// Secret is a secret shown once in a response (a secret access key, a
// session token): it is written into the XML response and nowhere else. It
// prints and logs as REDACTED and marshals to JSON as CloudTrail shows such
// values, "HIDDEN_DUE_TO_SECURITY_REASONS".
type Secret struct{ s string }

// Reveal returns the secret. Only the wire layer and the operator command
// that shows a new key once call it.
func (s Secret) Reveal() string { return s.s }

// Format implements fmt.Formatter: every verb prints REDACTED.
func (Secret) Format(f fmt.State, _ rune) { io.WriteString(f, "REDACTED") }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// MarshalJSON writes CloudTrail's placeholder, never the secret (audit
// records).
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"HIDDEN_DUE_TO_SECURITY_REASONS"`), nil }

// MarshalXML writes the secret into the response.
func (s Secret) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return e.EncodeElement(s.s, start)
}

// Timestamp is an IAM/STS timestamp: ISO 8601 in UTC, whole seconds.
type Timestamp struct{ time.Time }

// MarshalText implements encoding.TextMarshaler.
func (t Timestamp) MarshalText() ([]byte, error) {
	return t.UTC().AppendFormat(nil, "2006-01-02T15:04:05Z"), nil
}

// TagList is the Tags of a User or Role: <Tags><member>...</member></Tags>,
// and no Tags element at all without tags, as AWS answers (encoding/xml
// writes the parent of an empty "Tags>member" list, which the SDKs read as
// an empty list where AWS gives none).
type TagList []Tag

// MarshalXML implements xml.Marshaler.
func (l TagList) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return e.EncodeElement(struct {
		Member []Tag `xml:"member"`
	}{l}, start)
}

// ---- users ----

// User is IAM's User structure. For the root user only UserId (the account
// id), Arn and CreateDate are set, as AWS answers.
type User struct {
	Path       string    `xml:"Path,omitempty"`
	UserName   string    `xml:"UserName,omitempty"`
	UserID     string    `xml:"UserId"`
	Arn        string    `xml:"Arn"`
	CreateDate Timestamp `xml:"CreateDate"`
	Tags       TagList   `xml:"Tags,omitempty"`
}

type CreateUserInput struct {
	UserName            string
	Path                string
	Tags                []Tag
	PermissionsBoundary string
}

type CreateUserOutput struct {
	User User `xml:"User"`
}

type GetUserInput struct{ UserName string }

type GetUserOutput struct {
	User User `xml:"User"`
}

type ListUsersInput struct {
	PathPrefix string
	Marker     string
	MaxItems   *int32
}

type ListUsersOutput struct {
	Users       []User `xml:"Users>member"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

type DeleteUserInput struct{ UserName string }

type DeleteUserOutput struct{}

type TagUserInput struct {
	UserName string
	Tags     []Tag
}

type TagUserOutput struct{}

type UntagUserInput struct {
	UserName string
	TagKeys  []string
}

type UntagUserOutput struct{}

type ListUserTagsInput struct {
	UserName string
	Marker   string
	MaxItems *int32
}

type ListUserTagsOutput struct {
	Tags        []Tag  `xml:"Tags>member"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

// ---- access keys ----

// AccessKey is IAM's AccessKey structure (CreateAccessKey's answer).
type AccessKey struct {
	UserName        string    `xml:"UserName"`
	AccessKeyID     string    `xml:"AccessKeyId"`
	Status          string    `xml:"Status"`
	SecretAccessKey Secret    `xml:"SecretAccessKey"`
	CreateDate      Timestamp `xml:"CreateDate"`
}

// AccessKeyMetadata is IAM's AccessKeyMetadata structure.
type AccessKeyMetadata struct {
	UserName    string    `xml:"UserName,omitempty"`
	AccessKeyID string    `xml:"AccessKeyId"`
	Status      string    `xml:"Status"`
	CreateDate  Timestamp `xml:"CreateDate"`
}

type CreateAccessKeyInput struct{ UserName string }

type CreateAccessKeyOutput struct {
	AccessKey AccessKey `xml:"AccessKey"`
}

type ListAccessKeysInput struct {
	UserName string
	Marker   string
	MaxItems *int32
}

type ListAccessKeysOutput struct {
	AccessKeyMetadata []AccessKeyMetadata `xml:"AccessKeyMetadata>member"`
	IsTruncated       bool                `xml:"IsTruncated"`
	Marker            string              `xml:"Marker,omitempty"`
}

type UpdateAccessKeyInput struct {
	UserName    string
	AccessKeyId string
	Status      string
}

type UpdateAccessKeyOutput struct{}

type DeleteAccessKeyInput struct {
	UserName    string
	AccessKeyId string
}

type DeleteAccessKeyOutput struct{}

// ---- inline policies ----

type PutUserPolicyInput struct {
	UserName       string
	PolicyName     string
	PolicyDocument string
}

type PutUserPolicyOutput struct{}

type GetUserPolicyInput struct {
	UserName   string
	PolicyName string
}

// GetUserPolicyOutput's PolicyDocument is URL-encoded (RFC 3986), as AWS
// returns it.
type GetUserPolicyOutput struct {
	UserName       string `xml:"UserName"`
	PolicyName     string `xml:"PolicyName"`
	PolicyDocument string `xml:"PolicyDocument"`
}

type ListUserPoliciesInput struct {
	UserName string
	Marker   string
	MaxItems *int32
}

type ListUserPoliciesOutput struct {
	PolicyNames []string `xml:"PolicyNames>member"`
	IsTruncated bool     `xml:"IsTruncated"`
	Marker      string   `xml:"Marker,omitempty"`
}

type DeleteUserPolicyInput struct {
	UserName   string
	PolicyName string
}

type DeleteUserPolicyOutput struct{}

type PutRolePolicyInput struct {
	RoleName       string
	PolicyName     string
	PolicyDocument string
}

type PutRolePolicyOutput struct{}

type GetRolePolicyInput struct {
	RoleName   string
	PolicyName string
}

type GetRolePolicyOutput struct {
	RoleName       string `xml:"RoleName"`
	PolicyName     string `xml:"PolicyName"`
	PolicyDocument string `xml:"PolicyDocument"`
}

type DeleteRolePolicyInput struct {
	RoleName   string
	PolicyName string
}

type DeleteRolePolicyOutput struct{}

// ---- roles ----

// Role is IAM's Role structure. AssumeRolePolicyDocument is URL-encoded.
type Role struct {
	Path                     string    `xml:"Path"`
	RoleName                 string    `xml:"RoleName"`
	RoleID                   string    `xml:"RoleId"`
	Arn                      string    `xml:"Arn"`
	CreateDate               Timestamp `xml:"CreateDate"`
	AssumeRolePolicyDocument string    `xml:"AssumeRolePolicyDocument,omitempty"`
	Description              string    `xml:"Description,omitempty"`
	MaxSessionDuration       int32     `xml:"MaxSessionDuration"`
	Tags                     TagList   `xml:"Tags,omitempty"`
	// RoleLastUsed is set by GetRole only (AWS's listings leave it out).
	RoleLastUsed *RoleLastUsed `xml:"RoleLastUsed"`
}

// RoleLastUsed is IAM's RoleLastUsed structure. Trent does not track when a
// role was last used, so it is always empty, as AWS answers for a role not
// used within its tracking period.
type RoleLastUsed struct{}

type CreateRoleInput struct {
	RoleName                 string
	Path                     string
	AssumeRolePolicyDocument string
	Description              string
	MaxSessionDuration       *int32
	Tags                     []Tag
	PermissionsBoundary      string
}

type CreateRoleOutput struct {
	Role Role `xml:"Role"`
}

type GetRoleInput struct{ RoleName string }

type GetRoleOutput struct {
	Role Role `xml:"Role"`
}

type ListRolesInput struct {
	PathPrefix string
	Marker     string
	MaxItems   *int32
}

type ListRolesOutput struct {
	Roles       []Role `xml:"Roles>member"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

type DeleteRoleInput struct{ RoleName string }

type DeleteRoleOutput struct{}

type TagRoleInput struct {
	RoleName string
	Tags     []Tag
}

type TagRoleOutput struct{}

type UntagRoleInput struct {
	RoleName string
	TagKeys  []string
}

type UntagRoleOutput struct{}

type ListRoleTagsInput struct {
	RoleName string
	Marker   string
	MaxItems *int32
}

type ListRoleTagsOutput struct {
	Tags        []Tag  `xml:"Tags>member"`
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

type UpdateAssumeRolePolicyInput struct {
	RoleName       string
	PolicyDocument string
}

type UpdateAssumeRolePolicyOutput struct{}

type ListRolePoliciesInput struct {
	RoleName string
	Marker   string
	MaxItems *int32
}

type ListRolePoliciesOutput struct {
	PolicyNames []string `xml:"PolicyNames>member"`
	IsTruncated bool     `xml:"IsTruncated"`
	Marker      string   `xml:"Marker,omitempty"`
}

// ---- STS ----

type GetCallerIdentityInput struct{}

type GetCallerIdentityOutput struct {
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
	Arn     string `xml:"Arn"`
}

// PolicyDescriptor is STS's PolicyDescriptorType (a managed policy ARN).
type PolicyDescriptor struct {
	Arn string `query:"arn"`
}

type AssumeRoleInput struct {
	RoleArn           string
	RoleSessionName   string
	DurationSeconds   *int32
	Policy            string
	PolicyArns        []PolicyDescriptor
	Tags              []Tag
	TransitiveTagKeys []string
	ExternalId        string
	SerialNumber      string
	TokenCode         string
	SourceIdentity    string
}

// Credentials are temporary credentials.
type Credentials struct {
	AccessKeyID     string    `xml:"AccessKeyId"`
	SecretAccessKey Secret    `xml:"SecretAccessKey"`
	SessionToken    Secret    `xml:"SessionToken"`
	Expiration      Timestamp `xml:"Expiration"`
}

type AssumedRoleUser struct {
	AssumedRoleID string `xml:"AssumedRoleId"`
	Arn           string `xml:"Arn"`
}

type AssumeRoleOutput struct {
	Credentials      Credentials     `xml:"Credentials"`
	AssumedRoleUser  AssumedRoleUser `xml:"AssumedRoleUser"`
	PackedPolicySize *int32          `xml:"PackedPolicySize,omitempty"`
	SourceIdentity   string          `xml:"SourceIdentity,omitempty"`
}
