//! A module that tries to open a network connection (so it imports wasi:sockets).

wit_bindgen::generate!({ path: "../../../wit", world: "premodule" });

use exports::premod::premodule::{serve, train};
use premod::premodule::types::{Batch, Error, ServeContext, Summary, TrainContext};

struct Networked;

impl train::Guest for Networked {
    fn process_for_train(_ctx: TrainContext) -> Result<Summary, Error> {
        match std::net::TcpStream::connect("127.0.0.1:9") {
            Ok(_) => Ok(Summary {
                total: 1,
                success: 1,
                error: 0,
                message: Some("LEAK: connected".into()),
            }),
            Err(e) => Err(Error::Io(format!("connect to 127.0.0.1:9 failed: {e}"))),
        }
    }
}

impl serve::Guest for Networked {
    fn init_svc(_ctx: ServeContext) -> Result<(), Error> {
        Ok(())
    }

    fn transform(batch: Batch, _batch_id: u64) -> Result<Batch, Error> {
        Ok(batch)
    }
}

export!(Networked);
