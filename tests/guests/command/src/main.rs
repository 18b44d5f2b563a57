//! A plain WASI command (it exports wasi:cli/run): a component of another world.

fn main() {
    println!("hello from a WASI command");
}
