DROP TABLE direct_mails;
DROP TABLE notification_mails;
DROP TABLE notification_contacts;
