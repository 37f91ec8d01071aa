//! `scatter`: run a root against your leaves (`serve`), run a complete local
//! tree of the example search (`demo`), or ask a root one query (`query`).

mod cli;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse_with_env(std::env::args_os());
    scatter_management::init_logging_as(args.log_format.unwrap_or_default());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", cli::describe(&error));
            std::process::ExitCode::FAILURE
        }
    }
}
