//! `not-a-handler`: a well-formed component for a different world. It exports `greet`
//! instead of `handle` and imports an interface no Sluice host provides, so loading it must
//! fail with a message that says which world it should implement and what is missing.

// The bindings wit-bindgen generates contain unsafe glue code.
#![allow(unsafe_code, missing_docs)]

wit_bindgen::generate!({
    inline: r#"
        package acme:greeter;

        interface directory {
            lookup: func(name: string) -> string;
        }

        world greeter {
            import directory;
            export greet: func(name: string) -> string;
        }
    "#,
});

struct Greeter;

impl Guest for Greeter {
    fn greet(name: String) -> String {
        format!("hello {}", acme::greeter::directory::lookup(&name))
    }
}

export!(Greeter);
