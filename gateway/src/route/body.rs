//! A request body as the gateway reads it: which endpoint it came to, and its events parsed
//! once (a Segment call as a tree, a batch split into raw items, PostHog's forms unwrapped).

use crate::posthog::{self, Hints};
use crate::{
    accept_call, parse_body, split_batch, CallType, ItemResult, RawBatch, Rejected, RequestContext,
    MAX_BATCH_BYTES, MAX_EVENT_BYTES,
};
use serde_json::Value;

/// What an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// A Segment call: one of a fixed type (`/v1/track`), or a batch (`None`).
    Segment(Option<CallType>),
    /// PostHog's capture: one event, a list, or a batch.
    PostHog,
}

impl Endpoint {
    /// The largest body, counted after decompression.
    pub fn limit(self) -> usize {
        match self {
            Endpoint::Segment(Some(_)) => MAX_EVENT_BYTES,
            _ => MAX_BATCH_BYTES,
        }
    }

    /// The call type every event must have (`/v1/track` → track); batch items carry their own.
    pub(super) fn forced(self) -> Option<CallType> {
        match self {
            Endpoint::Segment(call) => call,
            Endpoint::PostHog => None,
        }
    }
}

/// A request body once parsed: one call as a tree (with the bytes it was parsed from), a batch
/// split into raw items, or PostHog events.
pub enum Body<'a> {
    Single(Value, &'a [u8]),
    Batch(RawBatch<'a>),
    PostHog(posthog::Request),
}

impl<'a> Body<'a> {
    /// Parses a (decompressed) body sent to `endpoint`, with that endpoint's size limit.
    pub fn parse(endpoint: Endpoint, bytes: &'a [u8], hints: &Hints) -> Result<Body<'a>, Rejected> {
        let limit = endpoint.limit();
        match endpoint {
            Endpoint::Segment(Some(_)) => parse_body(bytes, limit).map(|v| Body::Single(v, bytes)),
            Endpoint::Segment(None) => split_batch(bytes, limit).map(Body::Batch),
            Endpoint::PostHog => posthog::parse(bytes, hints, limit).map(Body::PostHog),
        }
    }

    /// The write key the body carries (`writeKey`, or PostHog's `api_key`/`token`).
    pub fn write_key(&self) -> Option<String> {
        match self {
            Body::Single(v, _) => v
                .get("writeKey")
                .and_then(Value::as_str)
                .map(str::to_string),
            Body::Batch(b) => b.write_key.clone(),
            Body::PostHog(r) => r.api_key.clone(),
        }
    }

    /// How many events the body holds (what the rate limit counts).
    pub fn len(&self) -> usize {
        match self {
            Body::Single(..) => 1,
            Body::Batch(b) => b.len(),
            Body::PostHog(r) => r.events.len(),
        }
    }

    /// Whether the body holds no events (a parsed body always holds one).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the request was one event, so that a refusal answers it with the reason.
    pub(super) fn single(&self) -> bool {
        match self {
            Body::Single(..) => true,
            Body::Batch(_) => false,
            Body::PostHog(r) => r.single,
        }
    }

    /// Accepts or refuses every event. A Segment single call is moved into the parser, so no
    /// request's events are ever copied wholesale; [`Body::original`] reads it again.
    pub(super) fn accept(
        &mut self,
        forced: Option<CallType>,
        ctx: &RequestContext,
    ) -> Vec<ItemResult> {
        match self {
            Body::Single(v, _) => vec![accept_call(v.take(), forced, None, ctx)],
            Body::Batch(b) => b.accept(ctx),
            Body::PostHog(r) => r
                .events
                .iter()
                .map(|e| {
                    posthog::to_call(e, ctx.received_at)
                        .and_then(|call| accept_call(call, None, r.sent_at, ctx))
                })
                .collect(),
        }
    }

    /// Event `i` as it arrived, for the quarantine record of a refused event (a single call is
    /// read from its bytes again, which is rare).
    pub(super) fn original(&self, i: usize) -> Value {
        match self {
            Body::Batch(b) => b.original(i),
            Body::PostHog(r) => r
                .events
                .get(i)
                .map(posthog::without_key)
                .unwrap_or(Value::Null),
            Body::Single(_, bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
        }
    }
}
