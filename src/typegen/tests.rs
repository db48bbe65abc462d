use serde_json::{json, Value};

use super::js;
use super::{generate, write_if_changed, GenerateOptions, TypegenError, COMMENT_HEADER};

fn gen(doc: &Value) -> String {
  generate(doc, &GenerateOptions { header: false }).expect("generate")
}

/// A 3.1 document with the given component schemas and no paths.
fn schemas_doc(schemas: Value) -> Value {
  json!({ "openapi": "3.1.0", "info": { "title": "t", "version": "1" }, "components": { "schemas": schemas } })
}

/// The text of `components.schemas` members, de-indented by the 8 spaces they sit at.
fn schemas_of(schemas: Value) -> String {
  let out = gen(&schemas_doc(schemas));
  let start = out.find("    schemas: {\n").expect("schemas block") + "    schemas: {\n".len();
  let end = out.find("\n    };\n    responses:").expect("end of schemas");
  out[start..end]
    .lines()
    .map(|l| l.strip_prefix("        ").unwrap_or(l))
    .collect::<Vec<_>>()
    .join("\n")
}

fn assert_schema(schemas: Value, expected: &str) {
  let got = schemas_of(schemas);
  assert_eq!(got, expected.trim_matches('\n'), "\n--- got ---\n{got}\n");
}

#[test]
fn empty_document_shape() {
  let out = generate(
    &json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}}),
    &GenerateOptions::default(),
  )
  .expect("generate");
  let expected = format!(
    "{COMMENT_HEADER}export type paths = Record<string, never>;\nexport type webhooks = Record<string, never>;\nexport type components = Record<string, never>;\nexport type $defs = Record<string, never>;\nexport type operations = Record<string, never>;\n"
  );
  assert_eq!(out, expected);
}

#[test]
fn components_groups_are_never_when_empty() {
  let out = gen(&schemas_doc(json!({ "A": { "type": "string" } })));
  assert!(out.contains("export interface components {\n    schemas: {\n        A: string;\n    };\n    responses: never;\n    parameters: never;\n    requestBodies: never;\n    headers: never;\n    pathItems: never;\n}\n"), "{out}");
}

#[test]
fn object_required_and_optional_properties() {
  assert_schema(
    json!({ "User": { "type": "object", "required": ["id"], "properties": { "id": { "type": "integer" }, "name": { "type": "string" }, "ok": { "type": "boolean" } } } }),
    "
User: {
    id: number;
    name?: string;
    ok?: boolean;
};",
  );
}

#[test]
fn nullable_forms() {
  assert_schema(
    json!({ "N": { "type": "object", "properties": {
      "a": { "type": "string", "nullable": true },
      "b": { "type": ["string", "null"] },
      "c": { "anyOf": [{ "type": "integer" }, { "type": "null" }] },
      "d": { "anyOf": [{ "$ref": "#/components/schemas/N" }, { "type": "null" }] },
      "e": { "allOf": [{ "$ref": "#/components/schemas/N" }], "nullable": true }
    } } }),
    r#"
N: {
    a?: string | null;
    b?: string | null;
    c?: number | null;
    d?: components["schemas"]["N"] | null;
    e?: components["schemas"]["N"] | null;
};"#,
  );
}

#[test]
fn enums_become_literal_unions_with_jsdoc() {
  assert_schema(
    json!({
      "Color": { "type": "string", "enum": ["red", "green"] },
      "Level": { "type": "integer", "enum": [1, -2, 2.5] },
      "Maybe": { "type": "string", "enum": ["a", null], "nullable": true },
      "Mixed": { "enum": ["x", 1, true, null] }
    }),
    r#"
/** @enum {string} */
Color: "red" | "green";
/** @enum {integer} */
Level: 1 | -2 | 2.5;
/** @enum {string|null} */
Maybe: "a" | null;
/** @enum {unknown} */
Mixed: "x" | 1 | true | null;"#,
  );
}

#[test]
fn one_of_any_of_all_of() {
  assert_schema(
    json!({
      "A": { "type": "object", "properties": { "a": { "type": "string" } } },
      "B": { "type": "object", "properties": { "b": { "type": "string" } } },
      "Prim": { "oneOf": [{ "type": "string" }, { "type": "number" }] },
      "Obj": { "oneOf": [{ "$ref": "#/components/schemas/A" }, { "$ref": "#/components/schemas/B" }] },
      "Any": { "anyOf": [{ "$ref": "#/components/schemas/A" }, { "type": "string" }] },
      "All": { "allOf": [{ "$ref": "#/components/schemas/A" }, { "$ref": "#/components/schemas/B" }] },
      "Req": { "required": ["a"], "allOf": [{ "$ref": "#/components/schemas/A" }] }
    }),
    r#"
A: {
    a?: string;
};
B: {
    b?: string;
};
Prim: string | number;
Obj: components["schemas"]["A"] | components["schemas"]["B"];
Any: components["schemas"]["A"] | string;
All: components["schemas"]["A"] & components["schemas"]["B"];
Req: WithRequired<components["schemas"]["A"], "a">;"#,
  );
  let out = gen(&schemas_doc(json!({
    "A": { "type": "object", "properties": { "a": { "type": "string" } } },
    "Req": { "required": ["a"], "allOf": [{ "$ref": "#/components/schemas/A" }] }
  })));
  assert!(out.ends_with("type WithRequired<T, K extends keyof T> = T & {\n    [P in K]-?: T[P];\n};\nexport type operations = Record<string, never>;\n"), "{out}");
}

#[test]
fn arrays_tuples_and_maps() {
  assert_schema(
    json!({ "S": { "type": "object", "properties": {
      "list": { "type": "array", "items": { "type": "string" } },
      "grid": { "type": "array", "items": { "type": "array", "items": { "type": "number" } } },
      "unionList": { "type": "array", "items": { "anyOf": [{ "type": "string" }, { "type": "integer" }] } },
      "untyped": { "type": "array" },
      "pair": { "type": "array", "prefixItems": [{ "type": "number" }, { "type": "string" }] },
      "anyMap": { "type": "object", "additionalProperties": true },
      "intMap": { "type": "object", "additionalProperties": { "type": "integer" } },
      "mixed": { "type": "object", "properties": { "k": { "type": "string" } }, "additionalProperties": {} },
      "bare": { "type": "object" }
    } } }),
    r#"
S: {
    list?: string[];
    grid?: number[][];
    unionList?: (string | number)[];
    untyped?: unknown[];
    pair?: [
        number,
        string
    ];
    anyMap?: {
        [key: string]: unknown;
    };
    intMap?: {
        [key: string]: number;
    };
    mixed?: {
        k?: string;
    } & {
        [key: string]: unknown;
    };
    bare?: Record<string, never>;
};"#,
  );
}

#[test]
fn refs_and_const() {
  assert_schema(
    json!({
      "P": { "type": "object", "properties": { "x": { "type": "integer" } } },
      "X": { "$ref": "#/components/schemas/P/properties/x" },
      "C": { "type": "object", "required": ["k", "n", "b", "o"], "properties": {
        "k": { "const": "circle" }, "n": { "const": -3 }, "b": { "const": false }, "o": { "const": { "a": [1] } } } }
    }),
    r#"
P: {
    x?: number;
};
X: components["schemas"]["P"]["x"];
C: {
    /** @constant */
    k: "circle";
    /** @constant */
    n: -3;
    /** @constant */
    b: false;
    /** @constant */
    o: {
        a: [
            1
        ];
    };
};"#,
  );
}

#[test]
fn jsdoc_title_description_default_deprecated_format_and_escaping() {
  assert_schema(
    json!({ "D": { "type": "object", "properties": {
      "t": { "type": "string", "title": "Only title" },
      "f": { "type": "string", "format": "date-time", "description": "When.\nSecond line", "deprecated": true },
      "d": { "type": "string", "default": "a */ b", "description": "ends */ early" },
      "o": { "type": "array", "items": { "type": "integer" }, "default": [1, 2] }
    } } }),
    r#"
D: {
    /** Only title */
    t?: string;
    /**
     * Format: date-time
     * @deprecated
     * @description When.
     *     Second line
     */
    f?: string;
    /**
     * @description ends *\/ early
     * @default a *\/ b
     */
    d: string;
    /**
     * @default [
     *       1,
     *       2
     *     ]
     */
    o: number[];
};"#,
  );
}

#[test]
fn property_names_are_quoted_when_not_identifiers() {
  assert_schema(
    json!({ "Q": { "type": "object", "properties": {
      "ok_name$1": { "type": "string" }, "content-type": { "type": "string" }, "2fa": { "type": "string" },
      "200": { "type": "string" }, "naïve": { "type": "string" }, "say \"hi\"": { "type": "string" }, "-1": { "type": "string" }
    } } }),
    r#"
Q: {
    200?: string;
    ok_name$1?: string;
    "content-type"?: string;
    "2fa"?: string;
    "na\u00EFve"?: string;
    "say \"hi\""?: string;
    "-1"?: string;
};"#,
  );
}

#[test]
fn default_makes_property_required_except_in_parameters_and_bodies() {
  let doc = json!({
    "openapi": "3.1.0", "info": { "title": "t", "version": "1" },
    "paths": { "/x": { "post": {
      "requestBody": { "content": { "application/json": { "schema": { "type": "object", "properties": { "n": { "type": "integer", "default": 1 } } } } } },
      "responses": { "200": { "description": "ok", "content": { "application/json": { "schema": { "type": "object", "properties": { "n": { "type": "integer", "default": 1 } } } } } } }
    } } }
  });
  let out = gen(&doc);
  assert!(
    out.contains("                        /** @default 1 */\n                        n?: number;"),
    "{out}"
  );
  assert!(
    out.contains(
      "                            /** @default 1 */\n                            n: number;"
    ),
    "{out}"
  );
}

#[test]
fn parameters_request_bodies_and_responses() {
  let doc = json!({
    "openapi": "3.1.0", "info": { "title": "t", "version": "1" },
    "paths": { "/items/{id}": {
      "get": {
        "operationId": "get_item",
        "parameters": [
          { "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } },
          { "name": "q", "in": "query", "schema": { "type": "string" } },
          { "name": "X-Req", "in": "header", "required": true, "schema": { "type": "string" } },
          { "name": "sid", "in": "cookie", "schema": { "type": "string" } }
        ],
        "responses": {
          "200": { "description": "ok", "headers": { "X-Rate": { "required": true, "schema": { "type": "integer" } } },
                   "content": { "application/json": { "schema": { "type": "string" } } } },
          "204": { "description": "empty" }
        }
      },
      "put": {
        "operationId": "put_item",
        "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "string" } } } },
        "responses": {}
      }
    } }
  });
  let out = gen(&doc);
  let expected_path = r#"export interface paths {
    "/items/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get: operations["get_item"];
        put: operations["put_item"];
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}"#;
  assert!(out.starts_with(expected_path), "{out}");
  let expected_op = r#"export interface operations {
    get_item: {
        parameters: {
            query?: {
                q?: string;
            };
            header: {
                "X-Req": string;
            };
            path: {
                id: number;
            };
            cookie?: {
                sid?: string;
            };
        };
        requestBody?: never;
        responses: {
            /** @description ok */
            200: {
                headers: {
                    "X-Rate": number;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": string;
                };
            };
            /** @description empty */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
        };
    };
    put_item: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                "application/json": string;
            };
        };
        responses: never;
    };
}
"#;
  assert!(out.ends_with(expected_op), "{out}");
}

#[test]
fn discriminator_mapping_patches_subtypes() {
  let out = schemas_of(json!({
    "Circle": { "type": "object", "properties": { "kind": { "type": "string", "default": "circle" }, "r": { "type": "number" } } },
    "Shape": { "oneOf": [{ "$ref": "#/components/schemas/Circle" }], "discriminator": { "propertyName": "kind", "mapping": { "c": "#/components/schemas/Circle" } } }
  }));
  assert!(out.contains("Circle: {\n    /**\n     * @description discriminator enum property added by openapi-typescript\n     * @enum {string}\n     */\n    kind: \"c\";"), "{out}");
}

#[test]
fn object_key_order_follows_js_rules() {
  let out = schemas_of(
    json!({ "O": { "type": "object", "properties": { "b": { "type": "string" }, "10": { "type": "string" }, "a": { "type": "string" }, "2": { "type": "string" } } } }),
  );
  assert_eq!(out, "O: {\n    2?: string;\n    10?: string;\n    b?: string;\n    a?: string;\n};");
}

#[test]
fn output_is_deterministic() {
  let doc = schemas_doc(
    json!({ "A": { "type": "object", "properties": { "x": { "oneOf": [{ "type": "string" }, { "type": "integer" }] } } } }),
  );
  let a = generate(&doc, &GenerateOptions::default()).expect("a");
  let b = generate(&doc, &GenerateOptions::default()).expect("b");
  assert_eq!(a, b);
}

#[test]
fn errors_name_the_pointer() {
  let opts = GenerateOptions::default();
  assert_eq!(generate(&json!([1]), &opts), Err(TypegenError::NotAnObject { found: "an array" }));
  assert!(matches!(
    generate(&json!({"info": {}}), &opts),
    Err(TypegenError::MissingVersion { .. })
  ));
  let swagger = generate(&json!({"swagger": "2.0"}), &opts).expect_err("swagger");
  assert!(swagger.to_string().contains("Swagger 2.0"), "{swagger}");
  for v in ["2.0", "4.0.0", "3", "3.9.0"] {
    assert_eq!(
      generate(&json!({"openapi": v}), &opts),
      Err(TypegenError::UnsupportedVersion { version: v.to_string() }),
      "{v}"
    );
  }
  let missing = schemas_doc(
    json!({ "A": { "type": "object", "properties": { "b": { "$ref": "#/components/schemas/Nope" } } } }),
  );
  let err = generate(&missing, &opts).expect_err("missing ref");
  assert_eq!(
    err,
    TypegenError::MissingRef {
      pointer: "/components/schemas/A/properties/b/$ref".into(),
      reference: "#/components/schemas/Nope".into()
    }
  );
  assert!(err.to_string().contains("/components/schemas/A/properties/b/$ref"));
  let external = schemas_doc(json!({ "A": { "$ref": "other.yaml#/components/schemas/A" } }));
  assert!(
    matches!(generate(&external, &opts), Err(TypegenError::ExternalRef { pointer, .. }) if pointer == "/components/schemas/A/$ref")
  );
  let whole = schemas_doc(json!({ "A": { "$ref": "#" } }));
  assert!(matches!(generate(&whole, &opts), Err(TypegenError::InvalidRef { .. })));
  let bad_prop = schemas_doc(json!({ "A": { "type": "object", "properties": { "x": [1] } } }));
  assert!(
    matches!(generate(&bad_prop, &opts), Err(TypegenError::Invalid { pointer, .. }) if pointer == "/components/schemas/A/properties/x")
  );
  let bad_schema = schemas_doc(json!({ "A": { "type": "array", "items": "string" } }));
  assert!(
    matches!(generate(&bad_schema, &opts), Err(TypegenError::Invalid { pointer, .. }) if pointer == "/components/schemas/A/items")
  );
  let dup = json!({ "openapi": "3.0.0", "paths": {
    "/a": { "get": { "operationId": "x", "responses": {} } },
    "/b": { "get": { "operationId": "x", "responses": {} } } } });
  assert!(
    matches!(generate(&dup, &opts), Err(TypegenError::DuplicateOperationId { pointer, first, .. })
    if pointer == "/paths/~1b/get/operationId" && first == "/paths/~1a/get/operationId")
  );
  // Refs inside example data are not references.
  let data = schemas_doc(json!({ "A": { "type": "object", "example": { "$ref": "#/nowhere" } } }));
  assert!(generate(&data, &opts).is_ok());
}

#[test]
fn write_if_changed_is_atomic_and_idempotent() {
  let dir = std::env::temp_dir().join(format!("typegen-test-{}", std::process::id()));
  std::fs::create_dir_all(&dir).expect("mkdir");
  let file = dir.join("api.d.ts");
  assert!(write_if_changed(&file, "a").expect("first write"));
  assert!(!write_if_changed(&file, "a").expect("same content"));
  assert!(write_if_changed(&file, "b").expect("changed"));
  assert_eq!(std::fs::read_to_string(&file).expect("read"), "b");
  let leftovers: Vec<_> =
    std::fs::read_dir(&dir).expect("ls").filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
  assert_eq!(leftovers.len(), 1, "{leftovers:?}");
  assert!(write_if_changed(&dir.join("missing-dir").join("x.ts"), "a").is_err());
  std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
#[allow(clippy::excessive_precision)] // 694909252705839.25 is exact: it is the tie case
fn js_number_formatting() {
  let cases: [(f64, &str); 14] = [
    (694909252705839.25, "694909252705839.2"),
    (0.5, "0.5"),
    (0.0, "0"),
    (1.0, "1"),
    (-2.5, "-2.5"),
    (1e21, "1e+21"),
    (1e20, "100000000000000000000"),
    (0.000001, "0.000001"),
    (1e-7, "1e-7"),
    (1.5e-7, "1.5e-7"),
    (123.456, "123.456"),
    (2f64.powi(53), "9007199254740992"),
    (0.1 + 0.2, "0.30000000000000004"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
  ];
  for (n, s) in cases {
    assert_eq!(js::number_to_string(n), s, "{n}");
  }
  assert_eq!(js::string_to_number(" 12 "), 12.0);
  assert!(js::string_to_number("1a").is_nan());
  assert_eq!(js::string_to_number("0x10"), 16.0);
}

#[test]
fn jsdoc_json_defaults_use_js_stringify() {
  assert_eq!(
    js::json_stringify_pretty(&json!({"b": 1.0, "1": [true, null], "a": {}})),
    "{\n  \"1\": [\n    true,\n    null\n  ],\n  \"b\": 1,\n  \"a\": {}\n}"
  );
}

#[test]
fn footer_order_operations_before_with_required() {
  let doc = json!({
    "openapi": "3.1.0",
    "paths": { "/x": { "get": { "operationId": "op", "responses": { "200": { "description": "ok", "content": { "application/json": {
      "schema": { "required": ["a"], "allOf": [{ "$ref": "#/components/schemas/A" }] } } } } } } } },
    "components": { "schemas": { "A": { "type": "object", "properties": { "a": { "type": "string" } } } } }
  });
  let out = gen(&doc);
  let ops = out.find("export interface operations").expect("operations");
  let helper = out.find("type WithRequired").expect("helper");
  assert!(ops < helper, "{out}");
  assert!(
    out.contains("\"application/json\": WithRequired<components[\"schemas\"][\"A\"], \"a\">;"),
    "{out}"
  );
}

#[test]
fn circular_ref_chain_is_an_error() {
  let doc = schemas_doc(
    json!({ "A": { "$ref": "#/components/schemas/B" }, "B": { "$ref": "#/components/schemas/A" } }),
  );
  let err = generate(&doc, &GenerateOptions::default()).expect_err("cycle");
  assert!(
    matches!(err, TypegenError::CircularRef { ref pointer, .. } if pointer == "/components/schemas/A/$ref"),
    "{err}"
  );
  // Recursion through an object property is fine.
  let tree = schemas_doc(
    json!({ "T": { "type": "object", "properties": { "kids": { "type": "array", "items": { "$ref": "#/components/schemas/T" } } } } }),
  );
  assert!(gen(&tree).contains("kids?: components[\"schemas\"][\"T\"][];"));
}

#[test]
fn percent_signs_in_keys_do_not_fail() {
  // openapi-typescript 7.13 throws "URI malformed" on such keys; we keep them verbatim.
  let out = schemas_of(json!({ "P": { "type": "object", "properties": {
    "100%": { "type": "object", "properties": { "x": { "type": "string" } } },
    "50%25": { "type": "string" } } } }));
  assert_eq!(
    out,
    "P: {\n    \"100%\"?: {\n        x?: string;\n    };\n    \"50%25\"?: string;\n};"
  );
}

#[test]
fn webhooks_and_component_groups() {
  let doc = json!({
    "openapi": "3.1.0",
    "webhooks": { "ping": { "post": { "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "string" } } } }, "responses": {} } } },
    "components": {
      "parameters": { "Limit": { "name": "limit", "in": "query", "schema": { "type": "integer" } } },
      "requestBodies": { "Body": { "content": { "text/plain": { "schema": { "type": "string" } } } } },
      "responses": { "Gone": { "description": "gone" } },
      "headers": { "Rate": { "schema": { "type": "integer" } } }
    },
    "paths": { "/p": { "get": { "parameters": [{ "$ref": "#/components/parameters/Limit" }], "requestBody": { "$ref": "#/components/requestBodies/Body" },
      "responses": { "410": { "$ref": "#/components/responses/Gone" } } } } }
  });
  let out = gen(&doc);
  assert!(out.contains("export interface webhooks {\n    ping: {\n"), "{out}");
  assert!(out.contains("                limit?: components[\"parameters\"][\"Limit\"];"), "{out}");
  assert!(
    out.contains("            requestBody?: components[\"requestBodies\"][\"Body\"];"),
    "{out}"
  );
  assert!(out.contains("                410: components[\"responses\"][\"Gone\"];"), "{out}");
  assert!(out.contains("    parameters: {\n        Limit: number;\n    };"), "{out}");
  assert!(out.contains("    headers: {\n        Rate: number;\n    };"), "{out}");
  assert!(out.contains("    responses: {\n        /** @description gone */\n        Gone: {\n            headers: {\n                [name: string]: unknown;\n            };\n            content?: never;\n        };\n    };"), "{out}");
}

#[test]
fn floats_print_like_javascript() {
  // Needs serde_json's `float_roundtrip`: without it this literal parses one ULP off.
  let doc: Value = serde_json::from_str(
    r#"{"openapi":"3.1.0","components":{"schemas":{"F":{"type":"number","default":1.1362275116276523e-8,"enum":[0.30000000000000004,1e21,-0.0]}}}}"#,
  )
  .expect("json");
  let out = gen(&doc);
  assert!(out.contains("@default 1.1362275116276523e-8"), "{out}");
  assert!(out.contains("F: 0.30000000000000004 | 1e+21 | 0;"), "{out}");
}
