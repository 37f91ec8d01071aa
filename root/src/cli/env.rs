//! `SCATTER_*` environment variables for the flags of `scatter serve` (and
//! `scatter config print`, which reads the same): every flag without a
//! variable of its own is also read from `SCATTER_<FLAG>` (`--max-concurrent`
//! → `SCATTER_MAX_CONCURRENT`). A flag wins over its variable. Flags given
//! once per item (`--shard`) take several items from one variable,
//! separated by `;`.

use clap::{Arg, ArgAction, Command};

/// `command` with a variable for each of its flags.
pub fn with_env(command: Command) -> Command {
    command.mut_args(with_variable)
}

fn with_variable(arg: Arg) -> Arg {
    let Some(long) = arg.get_long() else {
        return arg;
    };
    if arg.get_env().is_some() || matches!(long, "help" | "version") {
        return arg;
    }
    let variable = format!("SCATTER_{}", long.to_uppercase().replace('-', "_"));
    let repeated = matches!(arg.get_action(), ArgAction::Append);
    let arg = arg.env(variable);
    if repeated {
        arg.value_delimiter(';')
    } else {
        arg
    }
}
