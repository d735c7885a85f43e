-- Each service owns its database.
CREATE DATABASE intake;
CREATE DATABASE cpias;
CREATE DATABASE portal;
CREATE DATABASE notifier;
