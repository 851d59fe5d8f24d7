//! What the shop sells, and the orders its customers place.

use saga_events::{Line, Order};

/// One product: its id, its price in cents and the stock the warehouse starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Product {
    /// The product id.
    pub sku: &'static str,
    /// Price of one unit, in cents.
    pub price: u64,
    /// Units in stock when the run starts.
    pub initial: u64,
    /// How often it is picked, relative to the others.
    pub weight: u64,
}

/// The shop's products. The espresso machine costs more than the payment limit (300.00), so
/// every order of one is declined, as are large baskets of grinders; kettles and grinders
/// run short.
pub const CATALOGUE: [Product; 6] = [
    Product {
        sku: "tea",
        price: 1_200,
        initial: 1_000,
        weight: 30,
    },
    Product {
        sku: "mug",
        price: 1_800,
        initial: 800,
        weight: 25,
    },
    Product {
        sku: "scale",
        price: 2_900,
        initial: 500,
        weight: 15,
    },
    Product {
        sku: "kettle",
        price: 4_500,
        initial: 330,
        weight: 15,
    },
    Product {
        sku: "grinder",
        price: 12_900,
        initial: 200,
        weight: 10,
    },
    Product {
        sku: "espresso",
        price: 34_900,
        initial: 40,
        weight: 8,
    },
];

/// The product `sku`, if the shop sells it.
pub fn product(sku: &str) -> Option<&'static Product> {
    CATALOGUE.iter().find(|p| p.sku == sku)
}

/// `count` orders of run `run` (ids `RUN-0000`, ...), the same for the same arguments:
/// one to three lines of distinct products, one or two units each.
pub fn orders(run: &str, count: usize) -> Vec<Order> {
    let mut random = SplitMix(0x5a6a_0000 ^ count as u64);
    (0..count)
        .map(|n| {
            let mut lines: Vec<Line> = Vec::new();
            for _ in 0..1 + random.below(3) {
                let sku = pick(&mut random);
                if lines.iter().all(|line| line.sku != sku) {
                    lines.push(Line {
                        sku: sku.to_owned(),
                        qty: 1 + random.below(2) as u32,
                    });
                }
            }
            let amount = lines
                .iter()
                .map(|line| product(&line.sku).map_or(0, |p| p.price) * u64::from(line.qty))
                .sum();
            Order {
                order_id: format!("{run}-{n:04}"),
                customer: format!("customer-{}@example.com", n % 97),
                lines,
                amount,
            }
        })
        .collect()
}

/// A product, picked by weight.
fn pick(random: &mut SplitMix) -> &'static str {
    let total: u64 = CATALOGUE.iter().map(|p| p.weight).sum();
    let mut ticket = random.below(total);
    for product in &CATALOGUE {
        if ticket < product.weight {
            return product.sku;
        }
        ticket -= product.weight;
    }
    CATALOGUE[0].sku
}

/// SplitMix64: a tiny seeded generator, so a run's orders are reproducible.
struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_reproducible_and_priced_from_the_catalogue() {
        let orders = orders("r1", 200);
        assert_eq!(orders, super::orders("r1", 200));
        assert_eq!(orders[7].order_id, "r1-0007");
        for order in &orders {
            assert!((1..=3).contains(&order.lines.len()), "{order:?}");
            let amount: u64 = order
                .lines
                .iter()
                .map(|l| product(&l.sku).unwrap().price * u64::from(l.qty))
                .sum();
            assert_eq!(order.amount, amount);
        }
        assert!(orders.iter().any(|o| o.lines.iter().any(|l| l.sku == "espresso")));
    }
}
