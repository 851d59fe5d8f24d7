//! The commands the driver sends: opening deposits, then a seeded mix of deposits,
//! withdrawals (some of them overdrafts) and transfers.

use bank_ledger::{Command, CommandReply};

/// A command for one account, with the id that makes sending it again harmless.
pub struct Send {
    /// The command's id (`Sluice-Event-Id`).
    pub id: String,
    /// The account it is for.
    pub account: String,
    /// The command.
    pub command: Command,
}

/// The whole burst.
pub struct Workload {
    commands: Vec<Send>,
}

impl Workload {
    /// Opening deposits of 500.00 into each of `accounts`, then `count` mixed commands.
    pub fn new(accounts: &[&str], count: usize) -> Self {
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let mut random = XorShift(0x9E37_79B9_7F4A_7C15);
        let commands = accounts
            .iter()
            .map(|account| (account.to_string(), Command::Deposit { amount: 50_000 }))
            .chain((0..count).map(|_| {
                let account = accounts[random.below(accounts.len() as u64) as usize];
                let amount = 100 * (1 + random.below(400));
                let command = match random.below(10) {
                    0..=2 => Command::Deposit { amount },
                    3..=5 => Command::Withdraw { amount },
                    _ => {
                        let others: Vec<&&str> = accounts.iter().filter(|a| **a != account).collect();
                        let to = others[random.below(others.len() as u64) as usize].to_string();
                        Command::Transfer { to, amount }
                    }
                };
                (account.to_owned(), command)
            }))
            .enumerate()
            .map(|(n, (account, command))| Send {
                id: format!("run{run}-{n}"),
                account,
                command,
            })
            .collect();
        Self { commands }
    }

    /// How many commands.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// The first `opening` commands (the opening deposits), and the rest.
    pub fn split(mut self, opening: usize) -> (Vec<Send>, Vec<Send>) {
        let burst = self.commands.split_off(opening);
        (self.commands, burst)
    }
}

/// What the replies added up to.
#[derive(Debug, Default)]
pub struct Tally {
    /// Commands carried out.
    pub accepted: u64,
    /// Commands refused.
    pub refused: u64,
    /// Refusals for insufficient funds.
    pub overdrafts: u64,
    /// Money deposited minus money withdrawn, in cents (transfers move money, they add none).
    pub net_deposits: i128,
}

impl Tally {
    /// Counts one reply to `command`.
    pub fn add(&mut self, command: &Command, reply: &CommandReply) {
        if !reply.accepted {
            self.refused += 1;
            let reason = reply.reason.as_deref().unwrap_or_default();
            self.overdrafts += u64::from(reason.starts_with("insufficient funds"));
            return;
        }
        self.accepted += 1;
        self.net_deposits += match command {
            Command::Deposit { amount } => i128::from(*amount),
            Command::Withdraw { amount } => -i128::from(*amount),
            Command::Transfer { .. } | Command::CreditTransfer { .. } => 0,
        };
    }
}

/// A small seeded generator, so every run sends the same mix.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}
