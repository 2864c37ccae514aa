//! The driver side of protocol 1: a loop that reads requests from stdin,
//! hands them to a [`Handler`] and writes one response line each. Used by the
//! built-in `dir` driver when it runs as a process (`rtt driver dir`), and by
//! the in-process endpoint so both paths answer identically.

use std::io::{BufRead, Write};

use crate::driver::framing::{FrameError, encode_line, read_line, write_line};
use crate::driver::protocol::{ErrorCode, Method, Refusal, Request, Response};

/// What a driver does for each method.
pub trait Handler {
    /// Answers one request: a result object or a refusal.
    fn handle(&mut self, method: Method, params: serde_json::Value) -> Result<serde_json::Value, Refusal>;
}

/// The response to one request line (pure, so both endpoints share it).
pub fn respond(handler: &mut dyn Handler, line: &str) -> (Response, bool) {
    let request: Request = match serde_json::from_str(line) {
        Ok(request) => request,
        Err(e) => {
            // The id is unknown when the line does not parse; an empty id says so.
            let refusal = Refusal::new(ErrorCode::BadRequest, format!("not a request: {e}"));
            return (Response { id: String::new(), result: None, error: Some(refusal.to_body()) }, false);
        }
    };
    let Some(method) = Method::parse(&request.method) else {
        let refusal = Refusal::new(ErrorCode::UnknownMethod, format!("unknown method {:?}", request.method));
        return (Response { id: request.id, result: None, error: Some(refusal.to_body()) }, false);
    };
    let done = method == Method::Close;
    match handler.handle(method, request.params) {
        Ok(result) => (Response { id: request.id, result: Some(result), error: None }, done),
        Err(refusal) => (Response { id: request.id, result: None, error: Some(refusal.to_body()) }, false),
    }
}

/// Serves requests until `Close` or the end of input.
pub fn serve(handler: &mut dyn Handler, input: &mut impl BufRead, output: &mut impl Write) -> Result<(), FrameError> {
    while let Some(line) = read_line(input)? {
        let (response, done) = respond(handler, &line);
        let bytes = encode_line(&response).map_err(|e| FrameError::Io(std::io::Error::other(e.to_string())))?;
        write_line(output, &bytes)?;
        if done {
            break;
        }
    }
    Ok(())
}
