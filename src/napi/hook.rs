//! What a plugin hook returned: a promise (awaited) or anything else (a sync hook: done).

use napi::bindgen_prelude::{FromNapiValue, Promise, TypeName, ValidateNapiValue};
use napi::{sys, ValueType};

/// The return value of a plugin hook.
pub struct HookReturn(Option<Promise<()>>);

impl HookReturn {
  /// The promise to await, if the hook returned one.
  pub fn into_promise(self) -> Option<Promise<()>> {
    self.0
  }
}

impl TypeName for HookReturn {
  fn type_name() -> &'static str {
    "void | Promise<void>"
  }

  fn value_type() -> ValueType {
    ValueType::Unknown
  }
}

impl ValidateNapiValue for HookReturn {
  unsafe fn validate(_env: sys::napi_env, _val: sys::napi_value) -> napi::Result<sys::napi_value> {
    // Any value is a valid hook result.
    Ok(std::ptr::null_mut())
  }
}

impl FromNapiValue for HookReturn {
  unsafe fn from_napi_value(env: sys::napi_env, val: sys::napi_value) -> napi::Result<Self> {
    let mut is_promise = false;
    // SAFETY: `env` and `val` come from napi for this call.
    let status = unsafe { sys::napi_is_promise(env, val, &mut is_promise) };
    if status != sys::Status::napi_ok || !is_promise {
      return Ok(HookReturn(None));
    }
    // SAFETY: `val` is a promise (checked above).
    Ok(HookReturn(Some(unsafe { Promise::from_napi_value(env, val)? })))
  }
}
