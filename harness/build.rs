// The driver sources are embedded (include_dir!), and cargo does not see a
// macro's reads: rebuild whenever anything under drivers/ changes.
fn main() {
    println!("cargo:rerun-if-changed=../drivers");
}
