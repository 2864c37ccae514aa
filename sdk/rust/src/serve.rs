//! The driver side of protocol 1: a loop that reads request lines, hands each
//! to a [`Handler`] and writes one response line. The envelope is checked
//! here, the same way for every handler: a line that is not a JSON object, or
//! has no string `method` or no object `params`, is a `bad_request` — echoing
//! the request's `id` when it is a string, `""` otherwise — and the driver
//! lives on. A line over the cap ends the loop with an error.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

use serde_json::Value;

use crate::framing::{FrameError, encode_line, read_line, write_line};
use crate::protocol::{ErrorCode, Method, Refusal, Response};

/// What a driver does for each method.
pub trait Handler {
    /// Answers one request: a result object or a refusal.
    fn handle(&mut self, method: Method, params: Value) -> Result<Value, Refusal>;

    /// The coordinator went away (a socket connection ended): forget its
    /// session, so the next one must `Open` again.
    fn end_session(&mut self) {}
}

/// The response to one request line, and whether it was `Close`.
pub fn respond(handler: &mut dyn Handler, line: &str) -> (Response, bool) {
    let refuse = |id: String, code: ErrorCode, message: String| {
        (Response { id, result: None, error: Some(Refusal::new(code, message).to_body()) }, false)
    };
    let mut request = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(request)) => request,
        Ok(_) => return refuse(String::new(), ErrorCode::BadRequest, "a request must be a JSON object".into()),
        Err(e) => return refuse(String::new(), ErrorCode::BadRequest, format!("not JSON: {e}")),
    };
    let Some(Value::String(id)) = request.remove("id") else {
        return refuse(String::new(), ErrorCode::BadRequest, "`id` must be a string".into());
    };
    let Some(Value::String(name)) = request.remove("method") else {
        return refuse(id, ErrorCode::BadRequest, "`method` must be a string".into());
    };
    let params = match request.remove("params") {
        Some(params @ Value::Object(_)) => params,
        _ => return refuse(id, ErrorCode::BadRequest, "`params` must be an object".into()),
    };
    let Some(method) = Method::parse(&name) else {
        return refuse(id, ErrorCode::UnknownMethod, format!("unknown method {name:?}"));
    };
    match handler.handle(method, params) {
        Ok(result) => (Response { id, result: Some(result), error: None }, method == Method::Close),
        Err(refusal) => (Response { id, result: None, error: Some(refusal.to_body()) }, false),
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

/// A resident driver: listens on a Unix socket at `path` and serves one
/// connection at a time, each until `Close` or its end; a connection that
/// breaks the framing is dropped and the next one served. A socket file left
/// by a killed predecessor is replaced; one that a live driver answers on is
/// not. Runs until the process is stopped.
pub fn listen(handler: &mut dyn Handler, path: &Path) -> std::io::Result<()> {
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "another driver listens there"));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    for connection in listener.incoming() {
        let connection = match connection {
            Ok(connection) => connection,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut reader = BufReader::new(connection.try_clone()?);
        let mut writer = connection;
        if let Err(e) = serve(handler, &mut reader, &mut writer) {
            eprintln!("driver: dropping a connection: {e}");
        }
        handler.end_session();
    }
    Ok(())
}
