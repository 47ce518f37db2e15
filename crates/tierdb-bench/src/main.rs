use clap::Parser;

fn main() {
    let cli = tierdb_bench::cli::Cli::parse();
    if let Err(e) = tierdb_bench::run(&cli) {
        eprintln!("tierdb-bench: {e}");
        std::process::exit(1);
    }
}
