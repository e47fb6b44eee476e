use serde_json::json;

use super::filter::{CompareOp, Filter};
use super::patch::{apply, parse_request, Op, PatchPath};
use super::*;

fn user() -> UserData {
    UserData::from_resource(&json!({
        "schemas": [USER_SCHEMA],
        "userName": "bjensen@example.com",
        "externalId": "0c1d2e3f",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
    }))
    .unwrap()
}

fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn resources_are_read_in_the_schemas_spelling_and_unknown_attributes_dropped() {
    let u = UserData::from_resource(&json!({
        "USERNAME": "a@x.test",
        "Active": "False",
        "name": {"GIVENNAME": "A", "nonsense": 1},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x"},
        "id": "ignored",
        "emails": {"value": "a@x.test", "primary": "True"},
    }))
    .unwrap();
    assert_eq!(u.user_name, "a@x.test");
    assert!(!u.is_active());
    assert_eq!(u.attributes["name"], json!({"givenName": "A"}));
    assert_eq!(
        u.attributes["emails"],
        json!([{"value": "a@x.test", "primary": true}])
    );
    assert_eq!(u.attributes.len(), 2);
    assert_eq!(u.emails(), ["a@x.test"]);
}

#[test]
fn bad_resources_are_refused_with_their_scim_type() {
    let e = UserData::from_resource(&json!({"displayName": "x"})).unwrap_err();
    assert_eq!(e.scim_type(), "invalidValue");
    let e = UserData::from_resource(&json!({"userName": "a", "active": "yes"})).unwrap_err();
    assert_eq!(e.scim_type(), "invalidValue");
    let e = UserData::from_resource(&json!({"userName": "a", "emails": "a@b"})).unwrap_err();
    assert_eq!(e.scim_type(), "invalidValue");
    let e = UserData::from_resource(&json!(["x"])).unwrap_err();
    assert_eq!(e.scim_type(), "invalidSyntax");
}

#[test]
fn filters_parse_with_precedence_and_match() {
    let f = Filter::parse(r#"userName Eq "BJensen@example.com""#).unwrap();
    assert_eq!(f.equality_on("username"), Some("BJensen@example.com"));
    let res = obj(
        json!({"userName": "bjensen@example.com", "externalId": "AbC",
        "active": true, "emails": [{"value": "b@work.test", "type": "work"}],
        "name": {"givenName": "Barbara"}}),
    );
    assert!(f.matches(&res));
    let cases = [
        (r#"externalId eq "AbC""#, true),
        (r#"externalId eq "abc""#, false),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "BJ""#,
            true,
        ),
        (r#"emails[type eq "work" and value ew "@work.test"]"#, true),
        (r#"emails[type eq "home"]"#, false),
        (r#"emails.value co "WORK""#, true),
        (r#"name.givenName pr and not (active eq false)"#, true),
        (r#"title pr or userName eq "x""#, false),
        (
            r#"userName eq "x" or userName eq "y" and active eq true"#,
            false,
        ),
        (
            r#"(userName eq "x" or active eq true) and title eq null"#,
            true,
        ),
        (r#"userName ne "x""#, true),
        (r#"userName gt "a""#, true),
    ];
    for (text, want) in cases {
        assert_eq!(Filter::parse(text).unwrap().matches(&res), want, "{text}");
    }
    let and_binds_tighter = Filter::parse(r#"a eq "1" or b eq "2" and c eq "3""#).unwrap();
    assert!(matches!(and_binds_tighter, Filter::Or(_, _)));
    assert_eq!(
        Filter::parse(r#"userName eq "a \"q\"""#).unwrap(),
        Filter::Compare("userName".into(), CompareOp::Eq, json!("a \"q\""))
    );
}

#[test]
fn bad_filters_are_invalid_filter_errors() {
    for text in [
        "",
        "userName",
        r#"userName xx "a""#,
        r#"userName eq "a"#,
        r#"userName eq "a" and"#,
        r#"(userName eq "a""#,
        r#"emails[type eq "work""#,
        r#"not userName eq "a""#,
        r#"userName eq bare"#,
        r#"1x eq "a""#,
        r#"userName eq "a" garbage"#,
    ] {
        let e = Filter::parse(text).unwrap_err();
        assert_eq!(e.scim_type(), "invalidFilter", "{text}");
    }
}

#[test]
fn paths_parse() {
    let p = PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap();
    assert_eq!(p.attr, "emails");
    assert_eq!(p.sub.as_deref(), Some("value"));
    assert!(p.filter.is_some());
    let p = PatchPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName").unwrap();
    assert_eq!(
        (p.attr.as_str(), p.sub.as_deref()),
        ("name", Some("givenName"))
    );
    for bad in [
        "",
        "a..b",
        "a.",
        "emails]x[",
        r#"emails[type eq ]"#,
        "a.b.c",
    ] {
        assert_eq!(
            PatchPath::parse(bad).unwrap_err().scim_type(),
            "invalidPath",
            "{bad}"
        );
    }
}

#[test]
fn entra_patch_shapes() {
    // Entra ID: capitalised ops, "False" as a string, path-less value objects
    // with dotted keys, filtered paths for values that do not exist yet.
    let body = json!({
        "schemas": [PATCH_SCHEMA],
        "Operations": [
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Replace", "value": {"displayName": "Barbara J", "name.familyName": "Jensen-Smith"}},
            {"op": "Add", "path": "emails[type eq \"home\"].value", "value": "b@home.test"},
            {"op": "Add", "path": "addresses[type eq \"work\"].formatted", "value": "ignored"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "x"},
            {"op": "Replace", "path": "externalId", "value": "new-oid"},
        ]
    });
    let ops = parse_request(&body).unwrap();
    assert_eq!(ops[0].op, Op::Replace);
    let u = apply(&user(), &ops).unwrap();
    assert!(!u.is_active());
    assert_eq!(u.attributes["displayName"], json!("Barbara J"));
    assert_eq!(
        u.attributes["name"],
        json!({"givenName": "Barbara", "familyName": "Jensen-Smith"})
    );
    assert_eq!(
        u.attributes["emails"],
        json!([
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"type": "home", "value": "b@home.test"}
        ])
    );
    assert_eq!(u.external_id.as_deref(), Some("new-oid"));
    // Path-less `active` the way Entra also sends it.
    let ops = parse_request(&json!({"schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "replace", "value": {"active": "True"}}]}))
    .unwrap();
    let mut off = user();
    off.active = Some(false);
    assert!(apply(&off, &ops).unwrap().is_active());
}

#[test]
fn add_replace_remove_semantics() {
    let ops = |v| parse_request(&json!({"Operations": v})).unwrap();
    let u = apply(
        &user(),
        &ops(json!([{"op": "add", "path": "emails", "value": [{"value": "x@y.test"}]}])),
    )
    .unwrap();
    assert_eq!(u.emails(), ["bjensen@example.com", "x@y.test"]);
    let u = apply(
        &u,
        &ops(json!([{"op": "replace", "path": "emails", "value": [{"value": "z@y.test"}]}])),
    )
    .unwrap();
    assert_eq!(u.emails(), ["z@y.test"]);
    let u = apply(
        &u,
        &ops(json!([{"op": "remove", "path": "emails[value eq \"z@y.test\"]"}])),
    )
    .unwrap();
    assert!(u.emails().is_empty());
    let u = apply(
        &u,
        &ops(json!([{"op": "remove", "path": "name.givenName"}])),
    )
    .unwrap();
    assert_eq!(u.attributes["name"], json!({"familyName": "Jensen"}));
    let u = apply(&u, &ops(json!([{"op": "remove", "path": "externalId"}]))).unwrap();
    assert_eq!(u.external_id, None);
    // userName cannot be removed; a type mismatch is an invalid value.
    let e = apply(&u, &ops(json!([{"op": "remove", "path": "userName"}]))).unwrap_err();
    assert_eq!(e.scim_type(), "invalidValue");
    let e = apply(
        &u,
        &ops(json!([{"op": "replace", "path": "active", "value": 3}])),
    )
    .unwrap_err();
    assert_eq!(e.scim_type(), "invalidValue");
    let e = apply(
        &u,
        &ops(json!([{"op": "replace", "path": "emails[value co \"q\"].value", "value": "a"}])),
    )
    .unwrap_err();
    assert_eq!(e.scim_type(), "noTarget");
}

#[test]
fn bad_patch_requests() {
    let e = parse_request(&json!({"Operations": [{"op": "remove"}]})).unwrap_err();
    assert_eq!(e.scim_type(), "noTarget");
    let e = parse_request(&json!({"Operations": [{"op": "move", "path": "a"}]})).unwrap_err();
    assert_eq!(e.scim_type(), "invalidSyntax");
    let e = parse_request(&json!({"schemas": ["x"], "Operations": []})).unwrap_err();
    assert_eq!(e.scim_type(), "invalidSyntax");
    let e = parse_request(&json!({"Operations": [{"op": "add", "path": "a"}]})).unwrap_err();
    assert_eq!(e.scim_type(), "invalidSyntax");
}
