mod predlog;
